"""The drawing web page and its JSON API (``digitnet serve``); see app.py."""
