"""Routers mounted under /api/v1."""

from fastapi import APIRouter

from headwater.api.routers import admin, assets

ROUTERS: list[APIRouter] = [assets.router, admin.router]
