"""End-to-end commands on top of the three stages: fit, speak, evaluate, report.

This is the only package that imports landmarks, audio2mouth and renderer
together; the stages never import each other.
"""
