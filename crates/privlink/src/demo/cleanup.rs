//! Removing what the demo made: consumer side first, each deletion waited for when the next
//! depends on it; or, with `--keep`, the commands that would do it.

use anyhow::bail;
use client::{ClientError, Service};

use super::session::Account::{Consumer, Provider};
use super::session::{Account, Cmd, Params};
use super::{DELETION, Demo, heading};

fn not_found(e: &ClientError) -> bool {
    e.code().is_some_and(|c| c.ends_with("NotFound"))
}

impl Demo {
    pub(super) fn kept(&self) {
        heading("Kept (--keep): remove it all with the commands below, in this order");
        let m = &self.made;
        if let Some(e) = &m.endpoint {
            self.session.show(
                Consumer,
                &Cmd::aws("ec2", "delete-vpc-endpoints").arg("--vpc-endpoint-ids", &[e]),
            );
        }
        if let Some(i) = &m.client {
            self.session.show(
                Consumer,
                &Cmd::aws("ec2", "terminate-instances").arg("--instance-ids", &[&i.id]),
            );
        }
        if let Some(s) = &m.service_id {
            self.session.show(
                Provider,
                &Cmd::aws("ec2", "delete-vpc-endpoint-service-configurations")
                    .arg("--service-ids", &[s]),
            );
        }
        if let Some(lb) = &m.load_balancer {
            self.session.show(
                Provider,
                &Cmd::aws("elbv2", "delete-load-balancer").arg("--load-balancer-arn", &[lb]),
            );
        }
        if let Some(tg) = &m.target_group {
            self.session.show(
                Provider,
                &Cmd::aws("elbv2", "delete-target-group").arg("--target-group-arn", &[tg]),
            );
        }
        let ids: Vec<&str> = m.backends.iter().map(|b| b.id.as_str()).collect();
        if !ids.is_empty() {
            self.session.show(
                Provider,
                &Cmd::aws("ec2", "terminate-instances").arg("--instance-ids", &ids),
            );
        }
        for (account, subnet, vpc) in [
            (Provider, &m.provider_subnet, &m.provider_vpc),
            (Consumer, &m.consumer_subnet, &m.consumer_vpc),
        ] {
            if let Some(subnet) = subnet {
                self.session.show(
                    account,
                    &Cmd::aws("ec2", "delete-subnet").arg("--subnet-id", &[subnet]),
                );
            }
            if let Some(vpc) = vpc {
                self.session.show(
                    account,
                    &Cmd::aws("ec2", "delete-vpc").arg("--vpc-id", &[vpc]),
                );
            }
        }
    }

    /// Removes what the demo made, consumer side first (its endpoint holds a connection to
    /// the service), waiting for each deletion that others depend on. Every step is tried;
    /// the error lists those that failed.
    pub(super) fn clean_up(&mut self) -> anyhow::Result<()> {
        heading("Cleaning up");
        self.session.cleaning_up();
        let made = std::mem::take(&mut self.made);
        let mut failed = Vec::new();
        let mut step = |what: String, result: anyhow::Result<()>| {
            if let Err(e) = result {
                println!("  ! {what}: {e:#}");
                failed.push(what);
            }
        };
        if let Some(endpoint) = &made.endpoint {
            step(
                format!("deleting {endpoint}"),
                self.delete_endpoint(endpoint),
            );
        }
        if let Some(client) = &made.client {
            step(
                format!("terminating {}", client.id),
                self.terminate(Consumer, &[client.id.as_str()]),
            );
        }
        if let Some(service) = &made.service_id {
            step(format!("deleting {service}"), self.delete_service(service));
        }
        if let Some(lb) = &made.load_balancer {
            step(format!("deleting {lb}"), self.delete_load_balancer(lb));
        }
        if let Some(tg) = &made.target_group {
            step(
                format!("deleting {tg}"),
                self.delete(
                    Provider,
                    Cmd::aws("elbv2", "delete-target-group").arg("--target-group-arn", &[tg]),
                    Service::Elbv2,
                    "DeleteTargetGroup",
                    Params::new().set("TargetGroupArn", tg.as_str()),
                ),
            );
        }
        let backends: Vec<&str> = made.backends.iter().map(|b| b.id.as_str()).collect();
        if !backends.is_empty() {
            step(
                format!("terminating {}", backends.join(" ")),
                self.terminate(Provider, &backends),
            );
        }
        for (account, subnet, vpc) in [
            (Provider, &made.provider_subnet, &made.provider_vpc),
            (Consumer, &made.consumer_subnet, &made.consumer_vpc),
        ] {
            if let Some(subnet) = subnet {
                step(
                    format!("deleting {subnet}"),
                    self.delete(
                        account,
                        Cmd::aws("ec2", "delete-subnet").arg("--subnet-id", &[subnet]),
                        Service::Ec2,
                        "DeleteSubnet",
                        Params::new().set("SubnetId", subnet.as_str()),
                    ),
                );
            }
            if let Some(vpc) = vpc {
                step(
                    format!("deleting {vpc}"),
                    self.delete(
                        account,
                        Cmd::aws("ec2", "delete-vpc").arg("--vpc-id", &[vpc]),
                        Service::Ec2,
                        "DeleteVpc",
                        Params::new().set("VpcId", vpc.as_str()),
                    ),
                );
            }
        }
        if failed.is_empty() {
            println!("  → everything the demo made is gone");
            Ok(())
        } else {
            bail!("could not finish: {}", failed.join("; "))
        }
    }

    /// Prints `cmd` and makes the call, again while it is refused because of something still
    /// going away (dependencies, connections); already gone counts as done.
    fn delete(
        &self,
        account: Account,
        cmd: Cmd,
        service: Service,
        action: &str,
        params: Params,
    ) -> anyhow::Result<()> {
        self.session.show(account, &cmd);
        let waiting_on = [
            "DependencyViolation",
            "ResourceInUse",
            "ExistingVpcEndpointConnections",
            "InvalidState",
        ];
        let what: Vec<&str> = params.0.iter().map(|(_, v)| v.as_str()).collect();
        let done = match action.starts_with("Terminate") {
            true => "terminated",
            false => "deleted",
        };
        self.session.wait_for(&what.join(" "), DELETION, || {
            match self.session.call(account, service, action, &params) {
                Ok(_) => Ok((Some(()), done.to_owned())),
                Err(e) if not_found(&e) => Ok((Some(()), "already gone".to_owned())),
                Err(e) if e.code().is_some_and(|c| waiting_on.contains(&c)) => {
                    Ok((None, format!("waiting ({})", e.code().unwrap_or_default())))
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn terminate(&self, account: Account, ids: &[&str]) -> anyhow::Result<()> {
        self.delete(
            account,
            Cmd::aws("ec2", "terminate-instances").arg("--instance-ids", ids),
            Service::Ec2,
            "TerminateInstances",
            Params::new().list("InstanceId", ids),
        )
    }

    fn delete_endpoint(&self, endpoint: &str) -> anyhow::Result<()> {
        self.delete(
            Consumer,
            Cmd::aws("ec2", "delete-vpc-endpoints").arg("--vpc-endpoint-ids", &[endpoint]),
            Service::Ec2,
            "DeleteVpcEndpoints",
            Params::new().set("VpcEndpointId.1", endpoint),
        )?;
        let params = Params::new().set("VpcEndpointId.1", endpoint);
        self.session
            .wait_for(&format!("endpoint {endpoint}"), DELETION, || {
                match self
                    .session
                    .call(Consumer, Service::Ec2, "DescribeVpcEndpoints", &params)
                {
                    Ok(answer) => {
                        let state = answer
                            .list(&["vpcEndpointSet"])
                            .first()
                            .and_then(|e| e.text_of("state"))
                            .map(str::to_owned);
                        Ok(match state {
                            None => (Some(()), "gone".to_owned()),
                            Some(s) if s == "deleted" => (Some(()), s),
                            Some(s) => (None, s),
                        })
                    }
                    Err(e) if not_found(&e) => Ok((Some(()), "gone".to_owned())),
                    Err(e) => Err(e.into()),
                }
            })
    }

    fn delete_service(&self, service: &str) -> anyhow::Result<()> {
        self.delete(
            Provider,
            Cmd::aws("ec2", "delete-vpc-endpoint-service-configurations")
                .arg("--service-ids", &[service]),
            Service::Ec2,
            "DeleteVpcEndpointServiceConfigurations",
            Params::new().set("ServiceId.1", service),
        )?;
        let params = Params::new().set("ServiceId.1", service);
        self.session
            .wait_for(&format!("service {service}"), DELETION, || {
                match self.session.call(
                    Provider,
                    Service::Ec2,
                    "DescribeVpcEndpointServiceConfigurations",
                    &params,
                ) {
                    Ok(answer) => {
                        let state = answer
                            .list(&["serviceConfigurationSet"])
                            .first()
                            .and_then(|e| e.text_of("serviceState"))
                            .map(str::to_owned);
                        Ok(match state {
                            None => (Some(()), "gone".to_owned()),
                            Some(s) if s == "Deleted" => (Some(()), s),
                            Some(s) => (None, s),
                        })
                    }
                    Err(e) if not_found(&e) => Ok((Some(()), "gone".to_owned())),
                    Err(e) => Err(e.into()),
                }
            })
    }

    fn delete_load_balancer(&self, lb: &str) -> anyhow::Result<()> {
        self.delete(
            Provider,
            Cmd::aws("elbv2", "delete-load-balancer").arg("--load-balancer-arn", &[lb]),
            Service::Elbv2,
            "DeleteLoadBalancer",
            Params::new().set("LoadBalancerArn", lb),
        )?;
        let params = Params::new().set("LoadBalancerArns.member.1", lb);
        self.session.wait_for("load balancer", DELETION, || {
            match self
                .session
                .call(Provider, Service::Elbv2, "DescribeLoadBalancers", &params)
            {
                Ok(answer) => {
                    let listed = answer
                        .list(&["DescribeLoadBalancersResult", "LoadBalancers"])
                        .len();
                    Ok(match listed {
                        0 => (Some(()), "gone".to_owned()),
                        _ => (None, "deleting".to_owned()),
                    })
                }
                Err(e) if not_found(&e) => Ok((Some(()), "gone".to_owned())),
                Err(e) => Err(e.into()),
            }
        })
    }
}
