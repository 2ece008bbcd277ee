"""Demo data for a newcomer's first run and for tests; loading it twice changes nothing.

The demo producers are sandbox producers: the phone simulator acts as them, nothing sent to them leaves through
a provider, and they are left out of real audiences and counts.
"""
from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ovop.core import clock
from ovop.core.config import defaults
from ovop.core.db import ROOT
from ovop.models import Cooperative, Producer, Product, ProductAlias
from ovop.core.phones import to_e164
from ovop.domain.workshops import load_demo_workshops_and_prices

DEMO_FILE = ROOT / "data" / "demo.json"


def load(session: Session, path: Path = DEMO_FILE, config: dict | None = None) -> dict[str, int]:
    """Insert what is missing from the demo file; returns how many rows of each kind were added.

    `config`: the app's settings, whose BOT_TIMEZONE times the workshops (the settings' defaults when not given).
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    added = {"products": 0, "cooperatives": 0, "producers": 0}
    products = {}
    for spec in data["products"]:
        product = session.scalar(select(Product).where(Product.code == spec["code"]))
        if product is None:
            names = spec["names"]
            product = Product(code=spec["code"], unit=spec["unit"], name_fr=names["fr"], name_wo=names.get("wo"),
                              name_en=names.get("en"), low_stock_threshold=spec.get("low_stock_threshold", 0))
            product.aliases = [ProductAlias(alias=alias, source="demo") for alias in spec.get("aliases", [])]
            session.add(product)
            added["products"] += 1
        products[spec["code"]] = product
    cooperatives = {}
    for spec in data["cooperatives"]:
        cooperative = session.scalar(select(Cooperative).where(Cooperative.name == spec["name"]))
        if cooperative is None:
            cooperative = Cooperative(name=spec["name"], region=spec.get("region"),
                                      products=[products[code] for code in spec["products"]])
            session.add(cooperative)
            added["cooperatives"] += 1
        cooperatives[spec["key"]] = cooperative
    session.flush()
    for spec in data.get("producers", []):
        phone = to_e164(spec["phone"])
        if session.scalar(select(Producer.id).where(Producer.phone == phone)) is None:
            session.add(Producer(phone=phone, name=spec["name"], cooperative=cooperatives[spec["cooperative"]],
                                 language=spec.get("language", "fr"), channel=spec.get("channel", "whatsapp"),
                                 products=[products[code] for code in spec.get("products", [])], sandbox=True))
            added["producers"] += 1
    session.flush()
    added.update(load_demo_workshops_and_prices(session, data, clock.now(), config or defaults()))
    return added
