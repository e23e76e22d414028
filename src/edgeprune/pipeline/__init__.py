"""The deploy chain and what it needs: target files, flag overrides, strategies, output handling."""

from edgeprune.pipeline.deploy import DeployRequest, deploy, deploy_target

__all__ = ["DeployRequest", "deploy", "deploy_target"]
