"""Helpers that test cells import (kernel side): stand-in models, spies, tiny data.

Public on purpose: they run in the student's kernel and hold no expected value; the judge, outside the kernel,
holds those (``autograder.judge``).
"""
