"""The EKS cluster: control plane, managed node group, IAM roles, IRSA, the VPC CNI add-on.

Switches (platform.toml): endpoint access, control-plane log types, secrets encryption, the
VPC CNI add-on (`enable_vpc_cni_addon`, off on the local target: moto has no add-on API), node
group sizes and instance types.
"""

from __future__ import annotations

import json

from cdktf import Fn, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.data_aws_eks_addon_version import DataAwsEksAddonVersion
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.eks_addon import EksAddon
from cdktf_cdktf_provider_aws.eks_cluster import (
    EksCluster,
    EksClusterAccessConfig,
    EksClusterEncryptionConfig,
    EksClusterEncryptionConfigProvider,
    EksClusterUpgradePolicy,
    EksClusterVpcConfig,
)
from cdktf_cdktf_provider_aws.eks_node_group import (
    EksNodeGroup,
    EksNodeGroupLaunchTemplate,
    EksNodeGroupScalingConfig,
    EksNodeGroupUpdateConfig,
)
from cdktf_cdktf_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.launch_template import (
    LaunchTemplate,
    LaunchTemplateBlockDeviceMappings,
    LaunchTemplateBlockDeviceMappingsEbs,
    LaunchTemplateMetadataOptions,
    LaunchTemplateTagSpecifications,
)
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from modules.platform.constants import AUTOSCALER_NAMESPACE, AUTOSCALER_SERVICE_ACCOUNT
from modules.platform.network import Network
from tenantform.platform_config import PlatformConfig

CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
# The CNI policy sits on the node role because the CNI runs on the node's identity whether or
# not it is managed as an add-on; pods cannot reach that identity (IMDS hop limit 1, below).
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy")
VPC_CNI_CONFIGURATION = {"enableNetworkPolicy": "true"}
"""The VPC CNI add-on's configuration: its network-policy agent enforces NetworkPolicy objects."""


def autoscaler_role_name(platform: PlatformConfig) -> str:
    return f"{platform.name}-cluster-autoscaler"


class Cluster(Construct):
    """EKS control plane + managed node group + OIDC provider + autoscaler IRSA role."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: PlatformConfig, network: Network,
                 ignore_emulator_drift: bool) -> None:
        super().__init__(scope, construct_id)
        name = platform.name
        self.partition = DataAwsPartition(self, "partition").partition
        managed_policy = self.managed_policy_arn

        # --- control plane ------------------------------------------------------------------
        cluster_role = IamRole(self, "cluster_role", name=f"{name}-eks-cluster",
                               assume_role_policy=_service_trust(self, "cluster_trust", "eks.amazonaws.com",
                                                                 extra_actions=("sts:TagSession",)))
        cluster_attachments = [
            IamRolePolicyAttachment(self, f"cluster_{policy}", role=cluster_role.name,
                                    policy_arn=managed_policy(policy))
            for policy in CLUSTER_POLICIES
        ]
        # Created before the cluster, so EKS does not create it without a retention.
        log_group = CloudwatchLogGroup(self, "control_plane_logs",
                                       name=f"/aws/eks/{platform.cluster_name}/cluster",
                                       retention_in_days=platform.log_retention_days)
        encryption = None
        if platform.enable_secrets_encryption:
            key = KmsKey(self, "secrets_key", description=f"{platform.cluster_name} Kubernetes secrets",
                         enable_key_rotation=True, deletion_window_in_days=30)
            KmsAlias(self, "secrets_key_alias", name=f"alias/{platform.cluster_name}-secrets",
                     target_key_id=key.key_id)
            encryption = EksClusterEncryptionConfig(
                resources=["secrets"], provider=EksClusterEncryptionConfigProvider(key_arn=key.arn))
            # The cluster role must use the key (AmazonEKSClusterPolicy does not grant it).
            key_use = DataAwsIamPolicyDocument(self, "secrets_key_use", statement=[
                DataAwsIamPolicyDocumentStatement(
                    effect="Allow",
                    actions=["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                    resources=[key.arn])])
            cluster_attachments.append(IamRolePolicy(self, "cluster_secrets_key", name="secrets-key",
                                                     role=cluster_role.id, policy=key_use.json))
        self.cluster = EksCluster(
            self, "cluster",
            name=platform.cluster_name,
            version=platform.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=EksClusterVpcConfig(
                subnet_ids=[subnet.id for subnet in network.private_subnets],
                endpoint_private_access=platform.enable_endpoint_private_access,
                endpoint_public_access=platform.enable_endpoint_public_access,
                public_access_cidrs=(list(platform.endpoint_public_access_cidrs)
                                     if platform.enable_endpoint_public_access else None),
            ),
            enabled_cluster_log_types=list(platform.cluster_log_types),
            encryption_config=encryption,
            access_config=EksClusterAccessConfig(authentication_mode="API",
                                                 bootstrap_cluster_creator_admin_permissions=True),
            upgrade_policy=EksClusterUpgradePolicy(support_type="STANDARD"),
            depends_on=[log_group, *cluster_attachments],
            # moto returns neither access_config nor upgrade_policy; without this, every re-plan
            # against it would replace the cluster. AWS returns both: only the local target ignores.
            lifecycle=_emulator_ignore(ignore_emulator_drift, ["access_config", "upgrade_policy"]),
        )
        vpc_config = self.cluster.vpc_config
        self.cluster_security_group_id = vpc_config.cluster_security_group_id
        self.oidc_issuer = self.cluster.identity.get(0).oidc.get(0).issuer

        # --- IRSA ---------------------------------------------------------------------------
        self.oidc_provider = IamOpenidConnectProvider(
            self, "oidc_provider",
            url=self.oidc_issuer,
            client_id_list=["sts.amazonaws.com"],
        )
        self.oidc_provider_url = Fn.replace(self.oidc_issuer, "https://", "")

        # --- VPC CNI add-on (network policies) -----------------------------------------------
        self.vpc_cni_addon: EksAddon | None = None
        if platform.enable_vpc_cni_addon:
            version = platform.vpc_cni_addon_version or DataAwsEksAddonVersion(
                self, "vpc_cni_version", addon_name="vpc-cni",
                kubernetes_version=self.cluster.version, most_recent=False).version
            self.vpc_cni_addon = EksAddon(
                self, "vpc_cni",
                cluster_name=self.cluster.name,
                addon_name="vpc-cni",
                addon_version=version,
                configuration_values=json.dumps(VPC_CNI_CONFIGURATION),
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="PRESERVE",
            )

        # --- nodes --------------------------------------------------------------------------
        node_role = IamRole(self, "node_role", name=f"{name}-eks-node",
                            assume_role_policy=_service_trust(self, "node_trust", "ec2.amazonaws.com"))
        node_attachments = [
            IamRolePolicyAttachment(self, f"node_{policy}", role=node_role.name, policy_arn=managed_policy(policy))
            for policy in NODE_POLICIES
        ]
        self.node_role = node_role
        # Nodes get the cluster security group (control plane <-> nodes) and this one, which lets
        # the internal NLB (health checks and API Gateway traffic, both from VPC addresses) reach
        # the ingress controller's NodePort.
        self.node_security_group = SecurityGroup(
            self, "node_ingress",
            name=f"{name}-node-ingress",
            description="NLB to the ingress controller NodePort",
            vpc_id=network.vpc.id,
            tags={"Name": f"{name}-node-ingress"},
        )
        VpcSecurityGroupIngressRule(
            self, "node_ingress_nodeport",
            security_group_id=self.node_security_group.id,
            description="NLB to ingress NodePort",
            ip_protocol="tcp",
            from_port=platform.ingress_node_port,
            to_port=platform.ingress_node_port,
            cidr_ipv4=network.cidr,
        )
        root_device = "/dev/xvdb" if platform.node_ami_type.startswith("BOTTLEROCKET") else "/dev/xvda"
        launch_template = LaunchTemplate(
            self, "node_launch_template",
            name=f"{name}-eks-node",
            description="EKS nodes: IMDSv2 only, unreachable from pods; encrypted gp3 root volume",
            update_default_version=True,
            # Hop limit 1: pods (one network hop further) cannot read the node role's credentials.
            metadata_options=LaunchTemplateMetadataOptions(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1),
            block_device_mappings=[LaunchTemplateBlockDeviceMappings(
                device_name=root_device,
                ebs=LaunchTemplateBlockDeviceMappingsEbs(
                    volume_size=platform.node_disk_size_gib, volume_type="gp3", encrypted="true",
                    delete_on_termination="true"),
            )],
            # Fn.compact: moto reports no cluster security group (AWS always does).
            vpc_security_group_ids=Fn.compact([self.cluster_security_group_id, self.node_security_group.id]),
            tag_specifications=[
                LaunchTemplateTagSpecifications(resource_type=kind, tags={"Name": f"{platform.cluster_name}-node"})
                for kind in ("instance", "volume")
            ],
            # moto adds a `launch-template` tag specification of its own when it reads one back.
            lifecycle=_emulator_ignore(ignore_emulator_drift, ["tag_specifications"]),
        )
        self.node_group = EksNodeGroup(
            self, "nodes",
            cluster_name=self.cluster.name,
            node_group_name=f"{name}-general",
            node_role_arn=node_role.arn,
            subnet_ids=[subnet.id for subnet in network.private_subnets],
            scaling_config=EksNodeGroupScalingConfig(
                min_size=platform.node_min_size, desired_size=platform.node_desired_size,
                max_size=platform.node_max_size),
            update_config=EksNodeGroupUpdateConfig(max_unavailable_percentage=33),
            instance_types=list(platform.node_instance_types),
            capacity_type=platform.node_capacity_type,
            ami_type=platform.node_ami_type,
            launch_template=EksNodeGroupLaunchTemplate(id=launch_template.id,
                                                       version=Fn.tostring(launch_template.latest_version)),
            labels={"tenantform.io/pool": "general"},
            depends_on=[*node_attachments, *([self.vpc_cni_addon] if self.vpc_cni_addon else [])],
            # The cluster autoscaler owns the desired size once the group exists. moto invents a
            # `remote_access` block and drops `update_config` (only the local target ignores them).
            lifecycle=TerraformResourceLifecycle(
                ignore_changes=["scaling_config[0].desired_size",
                                *(["remote_access", "update_config"] if ignore_emulator_drift else [])]),
        )
        self.autoscaling_group_name = self.node_group.resources.get(0).autoscaling_groups.get(0).name

        # --- cluster autoscaler (IRSA) --------------------------------------------------------
        self.autoscaler_role = self._autoscaler_role(platform)

    def managed_policy_arn(self, policy: str) -> str:
        """ARN of an AWS-managed IAM policy in the platform's partition."""
        return f"arn:{self.partition}:iam::aws:policy/{policy}"

    def _autoscaler_role(self, platform: PlatformConfig) -> IamRole:
        trust = DataAwsIamPolicyDocument(
            self, "autoscaler_trust",
            statement=[DataAwsIamPolicyDocumentStatement(
                effect="Allow",
                actions=["sts:AssumeRoleWithWebIdentity"],
                principals=[DataAwsIamPolicyDocumentStatementPrincipals(
                    type="Federated", identifiers=[self.oidc_provider.arn])],
                condition=[
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="StringEquals", variable=f"{self.oidc_provider_url}:sub",
                        values=[f"system:serviceaccount:{AUTOSCALER_NAMESPACE}:{AUTOSCALER_SERVICE_ACCOUNT}"]),
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="StringEquals", variable=f"{self.oidc_provider_url}:aud",
                        values=["sts.amazonaws.com"]),
                ],
            )],
        )
        role = IamRole(self, "autoscaler_role", name=autoscaler_role_name(platform),
                       assume_role_policy=trust.json)
        # The autoscaler may only resize groups tagged as this cluster's (EKS managed node groups
        # carry the tag); reads are unconditional because the Describe calls take no resource.
        policy = DataAwsIamPolicyDocument(
            self, "autoscaler_permissions",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    sid="Discover", effect="Allow", resources=["*"],
                    actions=["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
                             "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
                             "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
                             "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
                             "eks:DescribeNodegroup"],
                ),
                DataAwsIamPolicyDocumentStatement(
                    sid="ResizeOwnGroups", effect="Allow", resources=["*"],
                    actions=["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                    condition=[DataAwsIamPolicyDocumentStatementCondition(
                        test="StringEquals",
                        variable=f"aws:ResourceTag/k8s.io/cluster-autoscaler/{platform.cluster_name}",
                        values=["owned"])],
                ),
            ],
        )
        IamRolePolicy(self, "autoscaler_policy", name="cluster-autoscaler", role=role.id, policy=policy.json)
        return role


def _service_trust(scope: Construct, construct_id: str, service: str, *, extra_actions: tuple[str, ...] = ()) -> str:
    return DataAwsIamPolicyDocument(
        scope, construct_id,
        statement=[DataAwsIamPolicyDocumentStatement(
            effect="Allow", actions=["sts:AssumeRole", *extra_actions],
            principals=[DataAwsIamPolicyDocumentStatementPrincipals(type="Service", identifiers=[service])],
        )],
    ).json


def _emulator_ignore(enabled: bool, attributes: list[str]) -> TerraformResourceLifecycle | None:
    return TerraformResourceLifecycle(ignore_changes=attributes) if enabled else None
