"""Integrations: record an agent built on a framework without writing the step loop by hand.

Each module hooks one framework through that framework's own extension points and turns what
the agent does into Augur records (steps, screenshots, model calls):

- :mod:`augur_sdk.integrations.browser_use`: `browser-use` agents;
- :mod:`augur_sdk.integrations.openai_agents`: the OpenAI Agents SDK (a tracing processor);
- :mod:`augur_sdk.integrations.cua`: `cua-agent`'s ``ComputerAgent`` (a callback).

Importing this package or one of those modules never imports the framework; enabling an
integration does, and says clearly (:class:`IntegrationNotInstalled`) when the framework is
missing or outside the versions we test. The shared parts live in :mod:`._framework`
(finding the framework) and :mod:`._steps` (turning what was seen into records, behind the
internal-error gate).
"""

from augur_sdk.integrations._framework import Framework, IntegrationNotInstalled
from augur_sdk.integrations._steps import ObservedCall, ObservedStep, StepRecorder

__all__ = ["Framework", "IntegrationNotInstalled", "ObservedCall", "ObservedStep",
           "StepRecorder"]
