//! PrivateLink actions: endpoint services, endpoints, connections, permissions, notifications.

use super::Handler;

pub const ROUTES: &[(&str, Handler)] = &[];
