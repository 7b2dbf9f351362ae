"""Numbered Alembic revisions (``0001_initial.py``...); a package only so that the wheel ships them."""
