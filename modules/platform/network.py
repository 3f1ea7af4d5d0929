"""The VPC: private and public subnets over 2-3 availability zones, internet and NAT gateways.

Nodes, pods (VPC CNI gives pods VPC addresses), the internal NLB and the EKS control-plane
network interfaces live in the private subnets; the public subnets hold only the NAT gateways.
"""

from __future__ import annotations

import ipaddress

from cdktf import Fn
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.data_aws_availability_zones import (
    DataAwsAvailabilityZones,
    DataAwsAvailabilityZonesFilter,
)
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.eip import Eip
from cdktf_cdktf_provider_aws.flow_log import FlowLog
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.internet_gateway import InternetGateway
from cdktf_cdktf_provider_aws.nat_gateway import NatGateway
from cdktf_cdktf_provider_aws.route import Route
from cdktf_cdktf_provider_aws.route_table import RouteTable
from cdktf_cdktf_provider_aws.route_table_association import RouteTableAssociation
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from constructs import Construct

from tenantform.platform_config import PlatformConfig


def subnet_cidrs(vpc_cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """(private, public) CIDRs: a quarter of the VPC per private subnet, a 32nd per public one."""
    network = ipaddress.IPv4Network(vpc_cidr)
    quarters = list(network.subnets(prefixlen_diff=2))
    private = [str(block) for block in quarters[:az_count]]
    public = [str(block) for block in list(quarters[3].subnets(prefixlen_diff=3))[:az_count]]
    return private, public


class Network(Construct):
    """VPC, subnets (one private and one public per AZ), IGW, NAT, routes, flow logs."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: PlatformConfig) -> None:
        super().__init__(scope, construct_id)
        name = platform.name
        cluster_tag = {f"kubernetes.io/cluster/{platform.cluster_name}": "shared"}
        self.cidr = platform.vpc_cidr

        zones = DataAwsAvailabilityZones(
            self, "zones", state="available",
            filter=[DataAwsAvailabilityZonesFilter(name="opt-in-status", values=["opt-in-not-required"])],
        )
        self.vpc = Vpc(
            self, "vpc",
            cidr_block=platform.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
        )
        # No rules: nothing may use the default security group by accident.
        DefaultSecurityGroup(self, "default_security_group", vpc_id=self.vpc.id,
                             tags={"Name": f"{name}-default-deny"})

        private_cidrs, public_cidrs = subnet_cidrs(platform.vpc_cidr, platform.availability_zone_count)
        self.private_subnets: list[Subnet] = []
        self.public_subnets: list[Subnet] = []
        self.availability_zones: list[str] = []
        for index in range(platform.availability_zone_count):
            zone = Fn.element(zones.names, index)
            self.availability_zones.append(zone)
            self.private_subnets.append(Subnet(
                self, f"private_{index}",
                vpc_id=self.vpc.id,
                cidr_block=private_cidrs[index],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-private-{index}", "kubernetes.io/role/internal-elb": "1", **cluster_tag},
            ))
            self.public_subnets.append(Subnet(
                self, f"public_{index}",
                vpc_id=self.vpc.id,
                cidr_block=public_cidrs[index],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-public-{index}", "kubernetes.io/role/elb": "1", **cluster_tag},
            ))

        igw = InternetGateway(self, "internet_gateway", vpc_id=self.vpc.id, tags={"Name": f"{name}-igw"})
        public_routes = RouteTable(self, "public_routes", vpc_id=self.vpc.id, tags={"Name": f"{name}-public"})
        Route(self, "public_default_route", route_table_id=public_routes.id,
              destination_cidr_block="0.0.0.0/0", gateway_id=igw.id)
        for index, subnet in enumerate(self.public_subnets):
            RouteTableAssociation(self, f"public_{index}_routes", subnet_id=subnet.id,
                                  route_table_id=public_routes.id)

        nat_count = platform.availability_zone_count if platform.enable_nat_gateway_per_az else 1
        self.nat_gateways: list[NatGateway] = []
        for index in range(nat_count):
            address = Eip(self, f"nat_{index}_address", domain="vpc", tags={"Name": f"{name}-nat-{index}"},
                          depends_on=[igw])
            self.nat_gateways.append(NatGateway(
                self, f"nat_{index}",
                allocation_id=address.allocation_id,
                subnet_id=self.public_subnets[index].id,
                tags={"Name": f"{name}-nat-{index}"},
                depends_on=[igw],
            ))
        for index, subnet in enumerate(self.private_subnets):
            routes = RouteTable(self, f"private_{index}_routes", vpc_id=self.vpc.id,
                                tags={"Name": f"{name}-private-{index}"})
            Route(self, f"private_{index}_default_route", route_table_id=routes.id,
                  destination_cidr_block="0.0.0.0/0",
                  nat_gateway_id=self.nat_gateways[index % nat_count].id)
            RouteTableAssociation(self, f"private_{index}_association", subnet_id=subnet.id,
                                  route_table_id=routes.id)

        if platform.enable_vpc_flow_logs:
            self._flow_logs(platform)

    def _flow_logs(self, platform: PlatformConfig) -> None:
        log_group = CloudwatchLogGroup(
            self, "flow_log_group",
            name=f"/{platform.name}/vpc/flow-logs",
            retention_in_days=platform.log_retention_days,
        )
        trust = DataAwsIamPolicyDocument(
            self, "flow_log_trust",
            statement=[DataAwsIamPolicyDocumentStatement(
                effect="Allow", actions=["sts:AssumeRole"],
                principals=[DataAwsIamPolicyDocumentStatementPrincipals(
                    type="Service", identifiers=["vpc-flow-logs.amazonaws.com"])],
            )],
        )
        role = IamRole(self, "flow_log_role", name=f"{platform.name}-vpc-flow-logs",
                       assume_role_policy=trust.json)
        write = DataAwsIamPolicyDocument(
            self, "flow_log_write",
            statement=[DataAwsIamPolicyDocumentStatement(
                effect="Allow",
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[f"{log_group.arn}:*"],
            )],
        )
        IamRolePolicy(self, "flow_log_policy", name="write-flow-logs", role=role.id, policy=write.json)
        FlowLog(
            self, "flow_log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
        )
