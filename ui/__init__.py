"""The web interface (Gradio), installed as the package `fouassist_ui`; `fouassist serve` mounts it at /ui."""

from fouassist_ui.app import build, mount_ui

__all__ = ["build", "mount_ui"]
