"""Conversations, one module each, and the registry the engine reads the open flow's step from.

A flow module declares its steps once, in its FLOW (ovop.conversation.steps.Flow), and imports neither the engine
nor the router: a step that reads something other than an answer to its question returns REROUTE.
"""
from __future__ import annotations

from ovop.conversation.flows import language, menu, optout, orders, stock, workshops
from ovop.conversation.steps import Flow

FLOWS: dict[str, Flow] = {flow.name: flow for flow in (menu.FLOW, language.FLOW, stock.FLOW, orders.FLOW,
                                                       workshops.FLOW, optout.FLOW)}
