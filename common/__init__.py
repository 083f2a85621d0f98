"""What the server and the local tool share and neither owns: pure code, no Django, importing
nothing of the apps (``procs``: this host's processes; ``findings`` and ``runview``: how a run's
diff is told and shown)."""
