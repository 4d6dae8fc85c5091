//! PrivateLink use cases: endpoint services (provider) and interface endpoints (consumer).
