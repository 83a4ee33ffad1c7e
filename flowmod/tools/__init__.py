"""Command-line tools: ``python -m flowmod.tools.im2rec`` packs images into RecordIO files."""
