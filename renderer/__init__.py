"""Renderer stage: face maps -> photo-real face crops (pix2pix), pasted back into full frames.

See docs/renderer.md. Reads the speaker cache of the landmarks stage; never imports audio2mouth.
"""
