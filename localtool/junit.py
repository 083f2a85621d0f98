"""The one JUnit XML writer of the tools: the local tool's tests and the CI tools' runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree


@dataclass
class Case:
    name: str
    classname: str
    seconds: float | None = None
    failure: str | None = None  # message; the case failed
    error: str | None = None  # message; the case could not run
    detail: str = ""  # the failure's or error's text (a link, the full reason)
    output: str | None = None  # system-out of a case that passed


def suite_element(name: str, cases: list[Case]) -> ElementTree.Element:
    suite = ElementTree.Element(
        "testsuite",
        name=name,
        tests=str(len(cases)),
        failures=str(sum(case.failure is not None for case in cases)),
        errors=str(sum(case.error is not None for case in cases)),
    )
    for case in cases:
        element = ElementTree.SubElement(
            suite, "testcase", name=case.name, classname=case.classname
        )
        if case.seconds is not None:
            element.set("time", f"{case.seconds:.3f}")
        if case.failure is not None:
            ElementTree.SubElement(element, "failure", message=case.failure).text = (
                case.detail or case.failure
            )
        elif case.error is not None:
            ElementTree.SubElement(element, "error", message=case.error).text = (
                case.detail or case.error
            )
        elif case.output is not None:
            ElementTree.SubElement(element, "system-out").text = case.output
    return suite


def write(path: Path | str, suites: dict[str, list[Case]], *, name: str | None = None) -> None:
    """One <testsuite> per entry; wrapped in <testsuites name=...> when ``name`` is given."""
    elements = [suite_element(suite, cases) for suite, cases in suites.items()]
    if name is None and len(elements) == 1:
        root = elements[0]
    else:
        root = ElementTree.Element("testsuites", name=name or "dpxdt")
        root.extend(elements)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
