"""Core logic of beets-dspipeline. Never imports beets: plain data in, plain data out."""
