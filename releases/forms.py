import re

from django import forms

from .models import BRANCH_NAME, Build


class BuildForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="A project: “desktop site”, “mobile site”…")
    public = forms.BooleanField(
        required=False, help_text="Anyone may view its releases and runs (never its keys)."
    )


class SettingsForm(forms.ModelForm):
    class Meta:
        model = Build
        fields = [
            "name",
            "public",
            "diff_metric",
            "diff_threshold",
            "max_distortion",
            "recaptures",
            "flaky_blocks",
            "ignore_selectors",
            "send_email",
            "email_alias",
            "webhook_urls",
            "keep_days",
            "keep_releases",
            "main_branch",
            "status_provider",
            "status_api_url",
            "status_repository",
        ]
        widgets = {
            "webhook_urls": forms.Textarea(attrs={"rows": 3, "cols": 60}),
            "ignore_selectors": forms.Textarea(attrs={"rows": 3, "cols": 60}),
        }
        labels = {
            "diff_metric": "Colour metric",
            "recaptures": "Recaptures",
            "flaky_blocks": "Flaky runs fail CI checks",
            "webhook_urls": "Webhook URLs",
            "ignore_selectors": "Ignore these elements",
            "diff_threshold": "Colour threshold",
            "max_distortion": "Changed pixels tolerated",
            "send_email": "Email the owners when a release is ready for review",
            "email_alias": "Send those emails to this list instead",
            "keep_days": "Keep releases for (days)",
            "keep_releases": "Always keep the newest (releases)",
            "main_branch": "Main branch",
            "status_provider": "Commit statuses",
            "status_repository": "Repository",
        }
        help_texts = {
            "diff_metric": "How two colours are compared. Perceptual sees a brand colour going "
            "one shade darker and ignores what people cannot tell apart; YIQ "
            "keeps the verdicts of builds made before it.",
            "recaptures": "0 or 1: when a captured page differs from its baseline, capture it "
            "again; what differs between the two captures is noise, masked out, "
            "and a run whose only differences are noise is “flaky”.",
            "webhook_urls": "One per line. When a release is ready for review or marked good "
            "or bad, Depicted POSTs a JSON event there, signed (see below).",
            "flaky_blocks": "Off: a flaky run does not make the client tools' --wait exit 1.",
            "ignore_selectors": "CSS selectors, one per line (a clock, a build number): changes "
            "of these elements never count, in every run, while the screenshots still show "
            "them. A run's config adds its own (ignoreSelectors).",
            "diff_threshold": "0 to 1; how different two colours must be to count as a change "
            "(empty: the server default, 0.1).",
            "max_distortion": "0 to 1; a run whose share of changed pixels is at most this "
            "counts as unchanged (0: any change counts).",
            "keep_days": "Older releases, beyond the newest below, are deleted with the "
            "screenshots nothing else needs; the current baselines, releases in review and "
            "pinned ones are always kept (empty: the server default; 0: any age).",
            "keep_releases": "Empty: the server default.",
            "main_branch": "Releases that name no branch are on it, and a branch's runs fall "
            "back to its baselines.",
            "status_provider": "For a release that carries a commit SHA: pending, then success "
            "or failure (“3 changes need review”) with a link, on the commit.",
            "status_repository": "GitHub: owner/repo. GitLab: the project's id or its path.",
        }

    status_api_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        label="Provider API URL",
        help_text="Empty: https://api.github.com or https://gitlab.com/api/v4 "
        "(GitHub Enterprise: https://HOST/api/v3).",
    )
    status_token = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        label="Provider token",
        help_text="Stored encrypted and never shown again; empty keeps the current one.",
    )

    def clean_diff_threshold(self):
        value = self.cleaned_data["diff_threshold"]
        if value is not None and not 0 <= value <= 1:
            raise forms.ValidationError("must be between 0 and 1")
        return value

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["main_branch"].required = False

    def clean_main_branch(self):
        branch = (self.cleaned_data.get("main_branch") or "").strip() or "main"
        if not BRANCH_NAME.match(branch):
            raise forms.ValidationError("not a branch name")
        return branch

    def clean(self):
        data = super().clean()
        provider = data.get("status_provider")
        if provider:
            repository = data.get("status_repository", "")
            if provider == "github" and not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
                self.add_error("status_repository", "GitHub needs owner/repo")
            if provider == "gitlab" and not repository:
                self.add_error("status_repository", "GitLab needs the project's id or path")
            if not data.get("status_token") and not self.instance.status_token:
                self.add_error("status_token", "a token is needed to send statuses")
        return data

    def clean_webhook_urls(self):
        from .webhooks import parse_urls

        try:
            return "\n".join(parse_urls(self.cleaned_data["webhook_urls"]))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_ignore_selectors(self):
        import soupsieve

        selectors = [s.strip() for s in self.cleaned_data["ignore_selectors"].splitlines()]
        for selector in filter(None, selectors):
            try:
                soupsieve.compile(selector)
            except (soupsieve.SelectorSyntaxError, ValueError) as exc:
                message = str(exc).splitlines()[0]
                raise forms.ValidationError(
                    f"{selector!r} is not a CSS selector ({message})"
                ) from None
        return "\n".join(filter(None, selectors))

    def clean_recaptures(self):
        value = self.cleaned_data["recaptures"]
        if value not in (0, 1):
            raise forms.ValidationError("must be 0 or 1")
        return value

    def clean_max_distortion(self):
        value = self.cleaned_data["max_distortion"]
        if not 0 <= value <= 1:
            raise forms.ValidationError("must be between 0 and 1")
        return value


class ApiKeyForm(forms.Form):
    purpose = forms.CharField(max_length=200, help_text="What uses it, e.g. “CI on main”.")


class InviteForm(forms.Form):
    email = forms.EmailField(
        help_text="They become an owner now if they have an account, "
        "else when they first sign in with this email."
    )
