"""The transfer engine: plan, concurrent streaming copy, verification, manifest."""
