//! `privlink demo`: the PrivateLink scenario, run against a running daemon and shown step by
//! step as the AWS CLI commands that do it.
//!
//! A provider account runs an application on two instances behind an internal NLB (PROXY
//! protocol v2 on) and publishes it as an endpoint service that requires acceptance; a
//! consumer account, in a VPC with the same CIDR, creates an interface endpoint, the provider
//! accepts it, and the consumer's instance calls the service through the endpoint: both
//! backends answer, each telling what the PROXY v2 header said (the consumer's address, the
//! endpoint's address, the endpoint id). Then everything is removed, also after a failure.

mod cleanup;
mod session;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use client::{ClientError, Element, Service};

use session::Account::{Consumer, Provider};
use session::{Account, Cmd, Params, Session, shell_quote, text};

/// The application the provider's instances run as their user data.
pub const APP: &str = include_str!("app.py");
/// The name the printed commands give the application's file.
const APP_FILE: &str = "demo-app.py";

const AMI: &str = "ami-12345678";
const INSTANCE_TYPE: &str = "t3.micro";
const VPC_CIDR: &str = "10.0.0.0/16";
const SUBNET_CIDR: &str = "10.0.1.0/24";
const APP_PORT: &str = "8080";
const LISTENER_PORT: &str = "80";
/// Requests the consumer makes once both backends are up.
const REQUESTS: usize = 8;

const INSTANCES_UP: Duration = Duration::from_secs(90);
const ENDPOINT_UP: Duration = Duration::from_secs(90);
const TARGETS_HEALTHY: Duration = Duration::from_secs(120);
const TRAFFIC: Duration = Duration::from_secs(90);
const DELETION: Duration = Duration::from_secs(90);

/// `privlink demo`'s options.
#[derive(Debug, Clone)]
pub struct Options {
    /// The daemon's API, e.g. `http://127.0.0.1:4566`.
    pub endpoint_url: String,
    /// The daemon's data dir (to enter the consumer instance, as `privlink exec` does).
    pub data_dir: PathBuf,
    /// Whether the data dir was given (then the printed `privlink exec` names it).
    pub data_dir_given: bool,
    pub region: String,
    /// Leave everything in place after a successful run.
    pub keep: bool,
}

/// An instance the demo launched.
#[derive(Debug, Clone)]
struct Instance {
    id: String,
    ip: String,
}

/// What the demo made so far, so that cleaning up removes exactly that.
#[derive(Debug, Default)]
struct Made {
    provider_vpc: Option<String>,
    provider_subnet: Option<String>,
    backends: Vec<Instance>,
    load_balancer: Option<String>,
    target_group: Option<String>,
    service_id: Option<String>,
    service_name: Option<String>,
    consumer_vpc: Option<String>,
    consumer_subnet: Option<String>,
    client: Option<Instance>,
    endpoint: Option<String>,
    endpoint_ip: Option<String>,
}

/// Runs the scenario and cleans up (unless `keep` and all went well). An error says what
/// failed; everything made was still removed unless the error says otherwise.
pub fn run(opts: &Options, is_root: bool) -> anyhow::Result<()> {
    if !is_root {
        bail!(
            "privlink demo calls the service from inside the consumer's instance (as privlink \
             exec does), which needs root"
        );
    }
    let session = Session::new(&opts.endpoint_url, &opts.region)?;
    let mut demo = Demo {
        session,
        opts: opts.clone(),
        made: Made::default(),
    };
    demo.preflight()?;
    session::watch_interrupts()?;
    demo.preamble();
    let outcome = demo.scenario();
    if let Err(e) = &outcome {
        println!("\n# The demo failed: {e:#}");
    }
    let cleaned = if opts.keep && outcome.is_ok() {
        demo.kept();
        Ok(())
    } else {
        demo.clean_up()
    };
    match (outcome, cleaned) {
        (Ok(()), Ok(())) => {
            println!("\n# Done.");
            Ok(())
        }
        (Err(e), Ok(())) => Err(e.context("privlink demo failed (what it made was removed)")),
        (Ok(()), Err(c)) => Err(c.context("privlink demo ran, but cleaning up failed")),
        (Err(e), Err(c)) => Err(anyhow!(
            "privlink demo failed: {e:#}; cleaning up failed too: {c:#}"
        )),
    }
}

#[derive(Debug)]
struct Demo {
    session: Session,
    opts: Options,
    made: Made,
}

fn heading(title: &str) {
    println!("\n# --- {title}");
}

/// The id of the first entry of the list at `list`.
fn first_id(root: &Element, list: &[&str], field: &str) -> anyhow::Result<String> {
    let entry = root.list(list).into_iter().next().ok_or_else(|| {
        anyhow!(
            "the {} answer lists nothing in {}",
            root.name,
            list.join("/")
        )
    })?;
    text(entry, &[field])
}

impl Demo {
    /// The daemon answers and takes dev-mode keys; said plainly otherwise.
    fn preflight(&self) -> anyhow::Result<()> {
        let url = self.session.endpoint_url();
        match self.session.call(
            Provider,
            Service::Ec2,
            "DescribeAvailabilityZones",
            &Params::new(),
        ) {
            Ok(_) => Ok(()),
            Err(ClientError::Io { source, .. }) => bail!(
                "no privlink daemon answers at {url} ({source}); start one as root with \
                 `privlink serve` (with its network) or pass --endpoint-url"
            ),
            Err(e @ ClientError::Aws { .. })
                if matches!(
                    e.code(),
                    Some("AuthFailure" | "InvalidClientTokenId" | "SignatureDoesNotMatch")
                ) =>
            {
                bail!(
                    "the daemon at {url} refused the demo's dev-mode keys ({e}); privlink demo \
                     needs a daemon in dev mode (no --accounts)"
                )
            }
            Err(e) => Err(anyhow!(e).context(format!("the daemon at {url}"))),
        }
    }

    fn preamble(&self) {
        let region = &self.opts.region;
        println!(
            "# privlink demo: AWS PrivateLink between two accounts, on {}",
            self.session.endpoint_url()
        );
        println!("#");
        println!(
            "# The provider (account {}) runs an application on two instances behind an",
            Provider.id()
        );
        println!(
            "# internal Network Load Balancer and publishes it as an endpoint service; the consumer"
        );
        println!(
            "# (account {}), in a VPC with the same CIDR, reaches it through an interface",
            Consumer.id()
        );
        println!(
            "# endpoint. Each step is the AWS CLI command that does it, with one profile per account"
        );
        println!("# (in dev mode the access key id is the account):");
        for account in [Provider, Consumer] {
            let p = account.profile();
            println!(
                "#   aws configure set aws_access_key_id {} --profile {p}",
                account.id()
            );
            println!("#   aws configure set aws_secret_access_key unused --profile {p}");
            println!("#   aws configure set region {region} --profile {p}");
        }
        println!(
            "# {APP_FILE} is the application (the README's walkthrough has it): an HTTP server on"
        );
        println!(
            "# port {APP_PORT} that reads the PROXY protocol v2 header the load balancer sends first."
        );
    }

    fn scenario(&mut self) -> anyhow::Result<()> {
        heading(&format!(
            "Provider, account {}: a VPC and the application",
            Provider.id()
        ));
        self.provider_network()?;
        self.backends()?;
        heading("Provider: an internal Network Load Balancer in front of the application");
        self.load_balancer()?;
        heading("Provider: an endpoint service that requires acceptance, open to the consumer");
        self.endpoint_service()?;
        heading(&format!(
            "Consumer, account {}: a VPC with the same CIDR, an instance, an interface endpoint",
            Consumer.id()
        ));
        self.consumer()?;
        heading("Provider: accepts the consumer's connection");
        self.accept()?;
        heading("Waiting until the endpoint is available and the targets are healthy");
        self.ready()?;
        heading("Traffic: the consumer's instance calls the service through its endpoint");
        self.traffic()
    }

    fn provider_network(&mut self) -> anyhow::Result<()> {
        let s = &self.session;
        let vpc = s.run(
            Provider,
            &Cmd::aws("ec2", "create-vpc").arg("--cidr-block", &[VPC_CIDR]),
            Service::Ec2,
            "CreateVpc",
            &Params::new().set("CidrBlock", VPC_CIDR),
        )?;
        let vpc = text(&vpc, &["vpc", "vpcId"])?;
        println!("  → {vpc}");
        self.made.provider_vpc = Some(vpc.clone());

        let subnet = self.create_subnet(Provider, &vpc)?;
        self.made.provider_subnet = Some(subnet);

        // The load balancer's health checks and the traffic it forwards come from its node's
        // address in this VPC: the instances' security group must let them in.
        let s = &self.session;
        let groups = s.run(
            Provider,
            &Cmd::aws("ec2", "describe-security-groups").arg(
                "--filters",
                &[
                    format!("Name=vpc-id,Values={vpc}"),
                    "Name=group-name,Values=default".to_owned(),
                ],
            ),
            Service::Ec2,
            "DescribeSecurityGroups",
            &Params::new()
                .set("Filter.1.Name", "vpc-id")
                .set("Filter.1.Value.1", vpc.as_str())
                .set("Filter.2.Name", "group-name")
                .set("Filter.2.Value.1", "default"),
        )?;
        let group = first_id(&groups, &["securityGroupInfo"], "groupId")?;
        println!("  → {group} (the VPC's default security group)");
        s.run(
            Provider,
            &Cmd::aws("ec2", "authorize-security-group-ingress")
                .arg("--group-id", &[&group])
                .arg("--protocol", &["tcp"])
                .arg("--port", &[APP_PORT])
                .arg("--cidr", &[VPC_CIDR]),
            Service::Ec2,
            "AuthorizeSecurityGroupIngress",
            &Params::new()
                .set("GroupId", group.as_str())
                .set("IpPermissions.1.IpProtocol", "tcp")
                .set("IpPermissions.1.FromPort", APP_PORT)
                .set("IpPermissions.1.ToPort", APP_PORT)
                .set("IpPermissions.1.IpRanges.1.CidrIp", VPC_CIDR),
        )?;
        println!("  → tcp/{APP_PORT} from {VPC_CIDR} allowed");
        Ok(())
    }

    fn create_subnet(&self, account: Account, vpc: &str) -> anyhow::Result<String> {
        let zone = format!("{}a", self.opts.region);
        let subnet = self.session.run(
            account,
            &Cmd::aws("ec2", "create-subnet")
                .arg("--vpc-id", &[vpc])
                .arg("--cidr-block", &[SUBNET_CIDR])
                .arg("--availability-zone", &[&zone]),
            Service::Ec2,
            "CreateSubnet",
            &Params::new()
                .set("VpcId", vpc)
                .set("CidrBlock", SUBNET_CIDR)
                .set("AvailabilityZone", zone.as_str()),
        )?;
        let subnet = text(&subnet, &["subnet", "subnetId"])?;
        println!("  → {subnet}");
        Ok(subnet)
    }

    /// Launches `count` instances in `subnet`, recording each as soon as it exists.
    fn run_instances(
        &mut self,
        account: Account,
        subnet: &str,
        count: usize,
        user_data: Option<&str>,
    ) -> anyhow::Result<Vec<Instance>> {
        let count_text = count.to_string();
        let mut cmd = Cmd::aws("ec2", "run-instances")
            .arg("--image-id", &[AMI])
            .arg("--instance-type", &[INSTANCE_TYPE])
            .arg("--count", &[&count_text])
            .arg("--subnet-id", &[subnet]);
        let mut params = Params::new()
            .set("ImageId", AMI)
            .set("InstanceType", INSTANCE_TYPE)
            .set("MinCount", count_text.as_str())
            .set("MaxCount", count_text.as_str())
            .set("SubnetId", subnet);
        if let Some(script) = user_data {
            cmd = cmd.arg("--user-data", &[format!("file://{APP_FILE}")]);
            params = params.set(
                "UserData",
                base64::engine::general_purpose::STANDARD.encode(script),
            );
        }
        let answer = self
            .session
            .run(account, &cmd, Service::Ec2, "RunInstances", &params)?;
        let mut launched = Vec::new();
        for item in answer.list(&["instancesSet"]) {
            let instance = Instance {
                id: text(item, &["instanceId"])?,
                ip: text(item, &["privateIpAddress"])?,
            };
            println!(
                "  → {} {} {}",
                instance.id,
                instance.ip,
                item.text_at(&["instanceState", "name"]).unwrap_or("?")
            );
            match account {
                Provider => self.made.backends.push(instance.clone()),
                Consumer => self.made.client = Some(instance.clone()),
            }
            launched.push(instance);
        }
        if launched.len() != count {
            bail!(
                "RunInstances launched {} instances, not {count}",
                launched.len()
            );
        }
        Ok(launched)
    }

    fn backends(&mut self) -> anyhow::Result<()> {
        let subnet = self.made.provider_subnet.clone().unwrap_or_default();
        let backends = self.run_instances(Provider, &subnet, 2, Some(APP))?;
        self.wait_running(Provider, &backends)
    }

    /// Waits until every instance runs; an instance whose workload exited fails the demo.
    fn wait_running(&self, account: Account, instances: &[Instance]) -> anyhow::Result<()> {
        let ids: Vec<&str> = instances.iter().map(|i| i.id.as_str()).collect();
        self.session.show(
            account,
            &Cmd::aws("ec2", "describe-instances").arg("--instance-ids", &ids),
        );
        let params = Params::new().list("InstanceId", &ids);
        let data_dir = self.opts.data_dir.display().to_string();
        let result = self.session.wait_for("instances", INSTANCES_UP, || {
            let answer = self
                .session
                .call(account, Service::Ec2, "DescribeInstances", &params)?;
            let mut states = BTreeMap::new();
            for reservation in answer.list(&["reservationSet"]) {
                for item in reservation.list(&["instancesSet"]) {
                    states.insert(
                        text(item, &["instanceId"])?,
                        text(item, &["instanceState", "name"])?,
                    );
                }
            }
            let status = states
                .iter()
                .map(|(id, state)| format!("{id} {state}"))
                .collect::<Vec<_>>()
                .join(", ");
            if let Some((id, state)) = states
                .iter()
                .find(|(_, s)| matches!(s.as_str(), "stopped" | "terminated" | "shutting-down"))
            {
                bail!(
                    "instance {id} is {state}: its user data exited (see \
                     {data_dir}/instances/{id}/console.log)"
                );
            }
            let all = states.len() == ids.len() && states.values().all(|s| s == "running");
            Ok((all.then_some(()), status))
        });
        match result {
            Err(e) if e.to_string().starts_with("timed out") => Err(e.context(
                "instances stay pending when the daemon has no network: is it running as \
                 root, without --no-network?",
            )),
            other => other,
        }
    }

    fn load_balancer(&mut self) -> anyhow::Result<()> {
        let vpc = self.made.provider_vpc.clone().unwrap_or_default();
        let subnet = self.made.provider_subnet.clone().unwrap_or_default();
        // Names are unique per account: derived from the VPC, so runs never collide.
        let name = format!("demo-{}", vpc.trim_start_matches("vpc-"));
        let s = &self.session;
        let lb = s.run(
            Provider,
            &Cmd::aws("elbv2", "create-load-balancer")
                .arg("--name", &[&name])
                .arg("--type", &["network"])
                .arg("--scheme", &["internal"])
                .arg("--subnets", &[&subnet]),
            Service::Elbv2,
            "CreateLoadBalancer",
            &Params::new()
                .set("Name", name.as_str())
                .set("Type", "network")
                .set("Scheme", "internal")
                .set("Subnets.member.1", subnet.as_str()),
        )?;
        let lb_arn = first_id(
            &lb,
            &["CreateLoadBalancerResult", "LoadBalancers"],
            "LoadBalancerArn",
        )?;
        println!("  → {lb_arn}");
        self.made.load_balancer = Some(lb_arn.clone());

        // Health checks every 5 s, 2 to change a verdict: the targets are healthy quickly.
        let s = &self.session;
        let tg = s.run(
            Provider,
            &Cmd::aws("elbv2", "create-target-group")
                .arg("--name", &[&name])
                .arg("--protocol", &["TCP"])
                .arg("--port", &[APP_PORT])
                .arg("--vpc-id", &[&vpc])
                .arg("--target-type", &["instance"])
                .arg("--health-check-protocol", &["TCP"])
                .arg("--health-check-interval-seconds", &["5"])
                .arg("--health-check-timeout-seconds", &["2"])
                .arg("--healthy-threshold-count", &["2"])
                .arg("--unhealthy-threshold-count", &["2"]),
            Service::Elbv2,
            "CreateTargetGroup",
            &Params::new()
                .set("Name", name.as_str())
                .set("Protocol", "TCP")
                .set("Port", APP_PORT)
                .set("VpcId", vpc.as_str())
                .set("TargetType", "instance")
                .set("HealthCheckProtocol", "TCP")
                .set("HealthCheckIntervalSeconds", "5")
                .set("HealthCheckTimeoutSeconds", "2")
                .set("HealthyThresholdCount", "2")
                .set("UnhealthyThresholdCount", "2"),
        )?;
        let tg_arn = first_id(
            &tg,
            &["CreateTargetGroupResult", "TargetGroups"],
            "TargetGroupArn",
        )?;
        println!("  → {tg_arn}");
        self.made.target_group = Some(tg_arn.clone());

        let s = &self.session;
        s.run(
            Provider,
            &Cmd::aws("elbv2", "modify-target-group-attributes")
                .arg("--target-group-arn", &[&tg_arn])
                .arg(
                    "--attributes",
                    &[
                        "Key=proxy_protocol_v2.enabled,Value=true",
                        "Key=deregistration_delay.timeout_seconds,Value=0",
                    ],
                ),
            Service::Elbv2,
            "ModifyTargetGroupAttributes",
            &Params::new()
                .set("Attributes.member.1.Key", "proxy_protocol_v2.enabled")
                .set("Attributes.member.1.Value", "true")
                .set(
                    "Attributes.member.2.Key",
                    "deregistration_delay.timeout_seconds",
                )
                .set("Attributes.member.2.Value", "0")
                .set("TargetGroupArn", tg_arn.as_str()),
        )?;
        println!("  → PROXY protocol v2 on; no deregistration delay");

        let targets: Vec<String> = self
            .made
            .backends
            .iter()
            .map(|i| format!("Id={}", i.id))
            .collect();
        let mut params = Params::new().set("TargetGroupArn", tg_arn.as_str());
        for (n, backend) in self.made.backends.iter().enumerate() {
            params = params.set(&format!("Targets.member.{}.Id", n + 1), backend.id.as_str());
        }
        s.run(
            Provider,
            &Cmd::aws("elbv2", "register-targets")
                .arg("--target-group-arn", &[&tg_arn])
                .arg("--targets", &targets),
            Service::Elbv2,
            "RegisterTargets",
            &params,
        )?;
        println!("  → {} targets registered", targets.len());

        let listener = s.run(
            Provider,
            &Cmd::aws("elbv2", "create-listener")
                .arg("--load-balancer-arn", &[&lb_arn])
                .arg("--protocol", &["TCP"])
                .arg("--port", &[LISTENER_PORT])
                .arg(
                    "--default-actions",
                    &[format!("Type=forward,TargetGroupArn={tg_arn}")],
                ),
            Service::Elbv2,
            "CreateListener",
            &Params::new()
                .set("LoadBalancerArn", lb_arn.as_str())
                .set("Protocol", "TCP")
                .set("Port", LISTENER_PORT)
                .set("DefaultActions.member.1.Type", "forward")
                .set("DefaultActions.member.1.TargetGroupArn", tg_arn.as_str()),
        )?;
        let listener = first_id(
            &listener,
            &["CreateListenerResult", "Listeners"],
            "ListenerArn",
        )?;
        println!("  → {listener}");
        Ok(())
    }

    fn endpoint_service(&mut self) -> anyhow::Result<()> {
        let lb_arn = self.made.load_balancer.clone().unwrap_or_default();
        let s = &self.session;
        let service = s.run(
            Provider,
            &Cmd::aws("ec2", "create-vpc-endpoint-service-configuration")
                .arg("--network-load-balancer-arns", &[&lb_arn])
                .flag("--acceptance-required"),
            Service::Ec2,
            "CreateVpcEndpointServiceConfiguration",
            &Params::new()
                .set("NetworkLoadBalancerArn.1", lb_arn.as_str())
                .set("AcceptanceRequired", "true"),
        )?;
        let id = text(&service, &["serviceConfiguration", "serviceId"])?;
        let name = text(&service, &["serviceConfiguration", "serviceName"])?;
        println!("  → {id} {name}");
        self.made.service_id = Some(id.clone());
        self.made.service_name = Some(name);

        let principal = format!("arn:aws:iam::{}:root", Consumer.id());
        self.session.run(
            Provider,
            &Cmd::aws("ec2", "modify-vpc-endpoint-service-permissions")
                .arg("--service-id", &[&id])
                .arg("--add-allowed-principals", &[&principal]),
            Service::Ec2,
            "ModifyVpcEndpointServicePermissions",
            &Params::new()
                .set("ServiceId", id.as_str())
                .set("AddAllowedPrincipals.1", principal.as_str()),
        )?;
        println!("  → {principal} may connect");
        Ok(())
    }

    fn consumer(&mut self) -> anyhow::Result<()> {
        let vpc = self.session.run(
            Consumer,
            &Cmd::aws("ec2", "create-vpc").arg("--cidr-block", &[VPC_CIDR]),
            Service::Ec2,
            "CreateVpc",
            &Params::new().set("CidrBlock", VPC_CIDR),
        )?;
        let vpc = text(&vpc, &["vpc", "vpcId"])?;
        println!(
            "  → {vpc} (the same CIDR as the provider's {})",
            self.made.provider_vpc.as_deref().unwrap_or("VPC")
        );
        self.made.consumer_vpc = Some(vpc.clone());
        let subnet = self.create_subnet(Consumer, &vpc)?;
        self.made.consumer_subnet = Some(subnet.clone());
        // No user data: the instance idles, and the demo runs its client inside it.
        self.run_instances(Consumer, &subnet, 1, None)?;

        let name = self.made.service_name.clone().unwrap_or_default();
        let s = &self.session;
        let found = s.run(
            Consumer,
            &Cmd::aws("ec2", "describe-vpc-endpoint-services").arg("--service-names", &[&name]),
            Service::Ec2,
            "DescribeVpcEndpointServices",
            &Params::new().set("ServiceName.1", name.as_str()),
        )?;
        let detail = found
            .list(&["serviceDetailSet"])
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("the consumer does not see service {name}"))?;
        println!(
            "  → {name}: owner {}, acceptance required: {}",
            detail.text_of("owner").unwrap_or("?"),
            detail.text_of("acceptanceRequired").unwrap_or("?")
        );

        let endpoint = s.run(
            Consumer,
            &Cmd::aws("ec2", "create-vpc-endpoint")
                .arg("--vpc-endpoint-type", &["Interface"])
                .arg("--vpc-id", &[&vpc])
                .arg("--service-name", &[&name])
                .arg("--subnet-ids", &[&subnet]),
            Service::Ec2,
            "CreateVpcEndpoint",
            &Params::new()
                .set("VpcEndpointType", "Interface")
                .set("VpcId", vpc.as_str())
                .set("ServiceName", name.as_str())
                .set("SubnetId.1", subnet.as_str()),
        )?;
        let id = text(&endpoint, &["vpcEndpoint", "vpcEndpointId"])?;
        self.made.endpoint = Some(id.clone());
        println!("  → {id} {}", text(&endpoint, &["vpcEndpoint", "state"])?);
        Ok(())
    }

    fn accept(&mut self) -> anyhow::Result<()> {
        let service = self.made.service_id.clone().unwrap_or_default();
        let endpoint = self.made.endpoint.clone().unwrap_or_default();
        let s = &self.session;
        let connections = s.run(
            Provider,
            &Cmd::aws("ec2", "describe-vpc-endpoint-connections")
                .arg("--filters", &[format!("Name=service-id,Values={service}")]),
            Service::Ec2,
            "DescribeVpcEndpointConnections",
            &Params::new()
                .set("Filter.1.Name", "service-id")
                .set("Filter.1.Value.1", service.as_str()),
        )?;
        for c in connections.list(&["vpcEndpointConnectionSet"]) {
            println!(
                "  → {} from account {}: {}",
                c.text_of("vpcEndpointId").unwrap_or("?"),
                c.text_of("vpcEndpointOwner").unwrap_or("?"),
                c.text_of("vpcEndpointState").unwrap_or("?")
            );
        }
        s.run(
            Provider,
            &Cmd::aws("ec2", "accept-vpc-endpoint-connections")
                .arg("--service-id", &[&service])
                .arg("--vpc-endpoint-ids", &[&endpoint]),
            Service::Ec2,
            "AcceptVpcEndpointConnections",
            &Params::new()
                .set("ServiceId", service.as_str())
                .set("VpcEndpointId.1", endpoint.as_str()),
        )?;
        println!("  → accepted");
        Ok(())
    }

    fn ready(&mut self) -> anyhow::Result<()> {
        let endpoint = self.made.endpoint.clone().unwrap_or_default();
        let s = &self.session;
        s.show(
            Consumer,
            &Cmd::aws("ec2", "describe-vpc-endpoints").arg("--vpc-endpoint-ids", &[&endpoint]),
        );
        let params = Params::new().set("VpcEndpointId.1", endpoint.as_str());
        let eni = s.wait_for(&format!("endpoint {endpoint}"), ENDPOINT_UP, || {
            let answer = s.call(Consumer, Service::Ec2, "DescribeVpcEndpoints", &params)?;
            let item = answer
                .list(&["vpcEndpointSet"])
                .into_iter()
                .next()
                .ok_or_else(|| anyhow!("endpoint {endpoint} is gone"))?;
            let state = text(item, &["state"])?;
            if matches!(
                state.as_str(),
                "rejected" | "failed" | "deleted" | "deleting" | "expired"
            ) {
                bail!("endpoint {endpoint} is {state}");
            }
            let eni = item
                .list(&["networkInterfaceIdSet"])
                .first()
                .map(|e| e.text.clone());
            Ok(((state == "available").then_some(eni).flatten(), state))
        })?;

        let interfaces = s.run(
            Consumer,
            &Cmd::aws("ec2", "describe-network-interfaces").arg("--network-interface-ids", &[&eni]),
            Service::Ec2,
            "DescribeNetworkInterfaces",
            &Params::new().set("NetworkInterfaceId.1", eni.as_str()),
        )?;
        let ip = first_id(&interfaces, &["networkInterfaceSet"], "privateIpAddress")?;
        println!("  → {eni} {ip} (the endpoint's address in the consumer's VPC)");
        self.made.endpoint_ip = Some(ip);

        let tg = self.made.target_group.clone().unwrap_or_default();
        s.show(
            Provider,
            &Cmd::aws("elbv2", "describe-target-health").arg("--target-group-arn", &[&tg]),
        );
        let params = Params::new().set("TargetGroupArn", tg.as_str());
        let expected = self.made.backends.len();
        s.wait_for("targets", TARGETS_HEALTHY, || {
            let answer = s.call(Provider, Service::Elbv2, "DescribeTargetHealth", &params)?;
            let mut states = BTreeMap::new();
            for d in answer.list(&["DescribeTargetHealthResult", "TargetHealthDescriptions"]) {
                states.insert(
                    text(d, &["Target", "Id"])?,
                    text(d, &["TargetHealth", "State"])?,
                );
            }
            let status = states
                .iter()
                .map(|(id, state)| format!("{id} {state}"))
                .collect::<Vec<_>>()
                .join(", ");
            let all = states.len() == expected && states.values().all(|s| s == "healthy");
            Ok((all.then_some(()), status))
        })?;

        let client = self.made.client.clone().into_iter().collect::<Vec<_>>();
        self.wait_running(Consumer, &client)
    }

    /// The consumer's instance makes requests to the endpoint's address until both backends
    /// answered (and at least [`REQUESTS`] answers came), checking what each reports.
    fn traffic(&mut self) -> anyhow::Result<()> {
        let client = self.made.client.clone().context("no consumer instance")?;
        let endpoint = self.made.endpoint.clone().unwrap_or_default();
        let endpoint_ip = self.made.endpoint_ip.clone().unwrap_or_default();
        let url = format!("http://{endpoint_ip}:{LISTENER_PORT}/");
        let script = format!(
            "import urllib.request as u; print(u.urlopen(\"{url}\", timeout=5).read().decode())"
        );
        let (netns, resolv_conf) = crate::instance_paths(&self.opts.data_dir, &client.id)?
            .with_context(|| {
                format!(
                    "instance {} has no network namespace under data dir {}: is it the \
                     daemon's? (see --data-dir)",
                    client.id,
                    self.opts.data_dir.display()
                )
            })?;
        let argv = ["python3", "-c", script.as_str()];
        let data_dir = if self.opts.data_dir_given {
            format!(
                " --data-dir {}",
                shell_quote(&self.opts.data_dir.display().to_string())
            )
        } else {
            String::new()
        };
        println!(
            "# Each request, from inside the consumer's instance {}:",
            client.id
        );
        println!(
            "$ privlink exec{data_dir} {} -- python3 -c {}",
            client.id,
            shell_quote(&script)
        );

        let backend_of: BTreeMap<&str, &str> = self
            .made
            .backends
            .iter()
            .map(|b| (b.ip.as_str(), b.id.as_str()))
            .collect();
        let mut answered: BTreeMap<String, usize> = BTreeMap::new();
        let mut ok = 0usize;
        let mut last_error = String::new();
        let start = Instant::now();
        while ok < REQUESTS || answered.len() < backend_of.len() {
            self.session.checkpoint()?;
            if start.elapsed() > TRAFFIC {
                bail!(
                    "after {} s, {ok} answers from {} of {} backends (last error: {last_error})",
                    TRAFFIC.as_secs(),
                    answered.len(),
                    backend_of.len()
                );
            }
            let output: Output = workload::exec_command(&netns, &resolv_conf, &argv)?
                .output()
                .context("running the client in the consumer's instance")?;
            let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            if !output.status.success() || stdout.is_empty() {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let error = stderr.lines().last().unwrap_or("no answer").to_owned();
                if error != last_error {
                    println!("  … no answer yet: {error}");
                }
                last_error = error;
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
            let fields: BTreeMap<&str, &str> = stdout
                .split_whitespace()
                .filter_map(|w| w.split_once('='))
                .collect();
            let field = |name: &str| fields.get(name).copied().unwrap_or("?");
            let address = field("address");
            let ip = address.rsplit_once(':').map_or(address, |(ip, _)| ip);
            let Some(backend) = backend_of.get(ip) else {
                bail!("an answer from {address}, which is none of the backends: {stdout:?}");
            };
            println!(
                "  → answered by {backend} ({address}); PROXY v2: source {}, destination {}, \
                 endpoint {}",
                field("source"),
                field("destination"),
                field("vpce")
            );
            let source_ip = field("source").rsplit_once(':').map_or("?", |(ip, _)| ip);
            if source_ip != client.ip {
                bail!(
                    "the PROXY v2 source is {}, not the consumer instance's {}",
                    field("source"),
                    client.ip
                );
            }
            if field("vpce") != endpoint {
                bail!(
                    "the PROXY v2 endpoint id is {}, not {endpoint}",
                    field("vpce")
                );
            }
            *answered.entry((*backend).to_owned()).or_default() += 1;
            ok += 1;
        }
        let counts: Vec<String> = answered
            .iter()
            .map(|(id, n)| format!("{id} ×{n}"))
            .collect();
        println!(
            "# Both backends answered ({}); each saw the consumer's address {} and endpoint {endpoint}.",
            counts.join(", "),
            client.ip
        );
        Ok(())
    }
}
