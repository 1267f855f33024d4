"""Every cloud error code vpclab gives, once (Tencent API 3.0 names; docs/rules.md lists them).

A refusal or a topology problem names one of these; the modules that check rules import
them from here, so a code is spelt in one place.
"""
from __future__ import annotations

from dataclasses import dataclass

# Generic parameter codes
TYPE = "InvalidParameter"
VALUE = "InvalidParameterValue"
MISSING = "MissingParameter"
UNKNOWN_KEY = "UnknownParameter"
NOT_FOUND = "ResourceNotFound"
MALFORMED = "InvalidParameterValue.Malformed"
RANGE = "InvalidParameterValue.Range"
DUPLICATE = "InvalidParameterValue.Duplicate"
COMBINATION = "InvalidParameterValue.Combination"
CONFLICT = "InvalidParameterValue.Conflict"
SELF_PROBE = "InvalidParameterValue"
# YAML text
SYNTAX = "InvalidParameter.YamlSyntax"
DUP_KEY = "InvalidParameter.DuplicateKey"
TOO_LARGE = "InvalidParameter.YamlTooLarge"
INCLUDE = "InvalidParameter.Include"  # `include:`: a cycle, a missing file, nesting too deep
# Peering (CLOUD-RULES.md)
CIDR_CONFLICT = "UnsupportedOperation.VpcPeerCidrConflict"
QUOTA = "LimitExceeded.VpcPeerTotalLimitExceeded"
ALREADY_EXIST = "UnsupportedOperation.VpcPeerAlreadyExist"
STATE_CHANGE = "UnsupportedOperation.VpcPeerInvalidStateChange"
PURVIEW = "UnsupportedOperation.VpcPeerPurviewError"
BW_OUT_OF_RANGE = "InvalidParameterValue.BandwidthOutOfRange"
# Routes
NEXT_HOP_INVALID = "InvalidParameterValue.RouteNextHopInvalid"
NOT_IN_PEER = "InvalidParameterValue.CidrNotInPeerVpc"
# VPCs, subnets, addresses, CLBs (the rules the seed leaves to those products)
VPC_CIDR_CONFLICT = "InvalidParameterValue.VpcCidrConflict"
SUBNET_RANGE = "InvalidParameterValue.SubnetRange"
SUBNET_CONFLICT = "InvalidParameterValue.SubnetConflict"
VPC_CIDR_RESERVED = "InvalidParameterValue.VpcCidrReserved"
IP_NOT_IN_SUBNET = "InvalidParameterValue.IpNotInSubnet"
IP_RESERVED = "InvalidParameterValue.IpReserved"
IP_IN_USE = "InvalidParameterValue.IpInUse"
SUBNET_FULL = "LimitExceeded.SubnetAddressExhausted"
CLB_CROSS_VPC = "UnsupportedOperation.ClbCrossVpcBinding"
CLB_BACKEND = "InvalidParameterValue.ClbBackend"
# Security groups, network ACLs, EIPs, NAT gateways
DUPLICATE_POLICY = "UnsupportedOperation.DuplicatePolicy"
POLICY_LIMIT = "LimitExceeded.SecurityGroupPolicySet"
NOT_IN_RANGE = "InvalidParameterValue.AddressIpNotInRange"
LISTENER_LIMIT = "LimitExceeded.Listener"
# Cloud Connect Network (CLOUD-RULES.md version 3; research/ccn.md section 6)
LIMIT = "LimitExceeded"  # 5 CCNs per account, 25 attachments per CCN
CCN_ATTACHED = "UnsupportedOperation.CcnAttached"  # the VPC is already on a CCN (one CCN per VPC)
CCN_NOT_ATTACHED = "UnsupportedOperation.CcnNotAttached"
NOT_PENDING_CCN = "UnsupportedOperation.NotPendingCcnInstance"
CCN_HAS_INSTANCES = "UnsupportedOperation.ExistCcnInstancesNotSupportDeleteCcn"
CCN_ROUTE_OVERLAP = "UnsupportedOperation.CcnRouteCidrOverlap"
ECMP_WITH_CCN = "UnsupportedOperation.EcmpWithCcnRoute"
UNAUTHORIZED = "UnauthorizedOperation"  # lab's code: only the CCN's account accepts or rejects
# The Python API
LAB_RUNNING = "UnsupportedOperation.LabRunning"


@dataclass(frozen=True)
class Violation:
    """A broken rule: its cloud code, the message, and the topology line (0: none)."""
    code: str
    message: str
    line: int = 0
