"""`vpclab import tencentcloud --live`: the same describe calls read through the SDK's clients
(credentials from TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY, and TENCENTCLOUD_SESSION_TOKEN
when set), every page of each, read-only. Each response becomes a Page as a saved file does."""
from __future__ import annotations

import os
from typing import Callable, List

from ....errors import EnvironmentProblem, Refused, shown
from .snapshot import BY_NAME, Page, need_sdk

try:  # the clients import `requests`: only this path pays for it
    from tencentcloud.common.credential import Credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.cvm.v20170312 import cvm_client
    from tencentcloud.vpc.v20170312 import models as vpc_models, vpc_client
    from tencentcloud.cvm.v20170312 import models as cvm_models
except ImportError:  # pragma: no cover - need_sdk() says what to install
    Credential = None

PAGE = 100
STR_PAGING = {"DescribeVpcs", "DescribeSubnets", "DescribeRouteTables", "DescribeSecurityGroups"}  # Offset/Limit: str
LISTED = ("DescribeVpcs", "DescribeSubnets", "DescribeRouteTables", "DescribeVpcPeeringConnections",
          "DescribeSecurityGroups", "DescribeNetworkAcls", "DescribeAddresses", "DescribeNatGateways",
          "DescribeCcns")
PER_CCN = ("DescribeCcnAttachedInstances", "DescribeCcnRoutes")  # paged, one CCN each


def credential():
    sid, key = os.environ.get("TENCENTCLOUD_SECRET_ID", ""), os.environ.get("TENCENTCLOUD_SECRET_KEY", "")
    if not sid or not key:
        raise Refused("--live needs credentials: TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY are not set",
                      code="AuthFailure.SecretIdNotFound",
                      hint="export them (a read-only key: QcloudVPCReadOnlyAccess and QcloudCVMReadOnlyAccess), "
                           "or import saved files instead")
    return Credential(sid, key, os.environ.get("TENCENTCLOUD_SESSION_TOKEN") or None)


def fetch(region: str) -> List[Page]:
    """Every page of every call in `region`, then each group's policies and each NAT gateway's SNAT rules."""
    need_sdk()
    if Credential is None:  # pragma: no cover
        raise EnvironmentProblem("the Tencent Cloud SDK's clients are not installed", code="Environment.MissingPackage",
                                 hint="pip install 'vpclab[tencentcloud]'")
    cred = credential()
    vpc, cvm = vpc_client.VpcClient(cred, region), cvm_client.CvmClient(cred, region)
    pages: List[Page] = []
    for name in LISTED:
        pages += _paged(region, name, getattr(vpc, name), getattr(vpc_models, f"{name}Request"))
    pages += _paged(region, "DescribeInstances", cvm.DescribeInstances, cvm_models.DescribeInstancesRequest)
    for p in [p for p in pages if p.call.name == "DescribeSecurityGroups"]:
        for g in p.response.SecurityGroupSet or []:
            req = vpc_models.DescribeSecurityGroupPoliciesRequest()
            req.SecurityGroupId = g.SecurityGroupId
            resp = _call(vpc.DescribeSecurityGroupPolicies, req, region)
            pages.append(Page(f"live {region} DescribeSecurityGroupPolicies {g.SecurityGroupId}", region, 0,
                              BY_NAME["DescribeSecurityGroupPolicies"], resp, g.SecurityGroupId))
    for p in [p for p in pages if p.call.name == "DescribeNatGateways"]:
        for n in p.response.NatGatewaySet or []:
            pages += _paged(region, "DescribeNatGatewaySourceIpTranslationNatRules",
                            vpc.DescribeNatGatewaySourceIpTranslationNatRules,
                            vpc_models.DescribeNatGatewaySourceIpTranslationNatRulesRequest, NatGatewayId=n.NatGatewayId)
    for p in [p for p in pages if p.call.name == "DescribeCcns"]:
        for c in p.response.CcnSet or []:
            for name in PER_CCN:
                pages += _paged(region, name, getattr(vpc, name), getattr(vpc_models, f"{name}Request"),
                                CcnId=c.CcnId)
            req = vpc_models.DescribeCcnRegionBandwidthLimitsRequest()
            req.CcnId = c.CcnId
            pages.append(Page(f"live {region} DescribeCcnRegionBandwidthLimits {c.CcnId}", region, 0,
                              BY_NAME["DescribeCcnRegionBandwidthLimits"],
                              _call(vpc.DescribeCcnRegionBandwidthLimits, req, region), c.CcnId))
    return pages


def _call(method: Callable, request, region: str):
    try:
        return method(request)
    except TencentCloudSDKException as e:
        raise Refused(f"{type(request).__name__[:-len('Request')]} in {shown(region)} failed: "
                      f"{shown(e.get_message(), 200)}", code=e.get_code() or "InternalError",
                      hint="check the region, the credentials and their read permissions")


def _paged(region: str, name: str, method: Callable, request_class, **fixed) -> List[Page]:
    call = BY_NAME[name]
    out: List[Page] = []
    offset = 0
    while True:
        req = request_class()
        for k, v in fixed.items():
            setattr(req, k, v)
        req.Offset, req.Limit = (str(offset), str(PAGE)) if name in STR_PAGING else (offset, PAGE)
        resp = _call(method, req, region)
        items = getattr(resp, call.items, None) or []
        out.append(Page(f"live {region} {name} page {len(out) + 1}", region, 0, call, resp, fixed.get("CcnId", "")))
        offset += len(items)
        total = getattr(resp, "TotalCount", None)
        if not items or not isinstance(total, int) or offset >= total or len(out) >= 1000:
            return out
