//! ELBv2 use cases for network load balancers: load balancers, target groups, listeners.
