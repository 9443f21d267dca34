//! Spanning tree: declarations, coordinates, root election and parent selection.
