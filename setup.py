"""Packaging hook for what pyproject.toml cannot say: ship the top-level ``templates/`` folder
inside the wheel as ``newsletter/templates`` (``newsletter.digest.render`` finds it in either place)."""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(
            include=["newsletter*", "subscribers*"], exclude=["*.__pycache__"]
        ),
        "newsletter.templates",
    ],
    package_dir={"newsletter.templates": "templates"},
)
