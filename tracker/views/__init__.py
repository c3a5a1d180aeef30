"""The read side: views projected from the event history, kept live, rebuildable at will."""
