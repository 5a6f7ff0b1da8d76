"""Terraform changes for recommendations: locate the resource (state + HCL), patch it minimally, check it, render PR text."""
