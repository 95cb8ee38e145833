"""The drawing web page and its JSON API (``digitnet serve``); see app.py."""

#: the most worker threads `serve` starts (here, not in app.py: `--help` works without Flask);
#: more only cost memory, as one answer takes milliseconds
MAX_THREADS = 256
