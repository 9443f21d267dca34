//! Routing: next-hop selection and the coordinate cache.
