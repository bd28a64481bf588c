"""The Deliverability page's sections (pages/deliverability.py composes them):
  reads     the page's reads of commlog.deliverability, cached, through the unit of work
  controls  lender, dates, granularity, audience, email type, minimum volume → Chosen
  headline  the rates of the whole range, the platform median, coverage
  findings  findings in the range and the platform patterns behind several of them
  health    health now, one card per lender
  tabs      rates over time, lenders × providers, breakdowns, domains and reasons
  charts    the Altair specs and their frames
  drill     links into the Communication Log
"""
