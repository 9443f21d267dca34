//! Configuration: the YAML file and the sidecar's environment variables.
