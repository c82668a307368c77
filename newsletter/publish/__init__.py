"""Publishing a list's issues: branding, the editor's note, the public archive and its feed."""
