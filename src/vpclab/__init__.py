"""vpclab: cloud VPC peering emulated on Linux network namespaces."""
__version__ = "0.1.0"
