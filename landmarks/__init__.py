"""Landmarks stage: footage -> per-speaker cache (landmarks, alignment, PCA, crops, face maps).

This is the only package that imports dlib. Both trainers read what it writes
through :class:`landmarks.cache.SpeakerCache`.
"""
