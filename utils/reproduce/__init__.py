"""The reproduction pipeline behind reproduce.py: what is downloaded (sources, download, safe_extract), the
stages and their commands (plan), running and resuming them (run), the image links of a run (image_links) and
RESULTS.md (report)."""
