"""The one live-event layer (DESIGN.md §5) every app may import: it sits on the lowest floor."""
