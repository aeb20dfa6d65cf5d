"""A coarser sector set for neutralisation: Tushare's ~110 industries -> 28 Shenwan-like sectors.

With a few hundred stocks, 110 industry dummies leave many single-stock industries whose label
would be neutralised to exactly zero; 28 broad sectors (the Shenwan 2014 level-1 split, without
its defence/aerospace sector's sub-structure) keep 5-30 stocks per sector in the embedded slice.
Industries not listed here (and stocks without one) map to "Unknown".
"""

from __future__ import annotations

import numpy as np

UNKNOWN = "Unknown"

_GROUPS: dict[str, tuple[str, ...]] = {
    "Agriculture": ("农业综合", "饲料", "种植业", "渔业", "林业"),
    "Mining": ("煤炭开采", "石油开采", "焦炭加工", "石油贸易"),
    "Chemicals": ("化工原料", "塑料", "农药化肥", "化纤", "染料涂料", "日用化工", "石油加工", "橡胶"),
    "Steel": ("普钢", "钢加工", "特种钢"),
    "NonFerrous": ("小金属", "铝", "铜", "铅锌", "黄金"),
    "Electronics": ("元器件", "半导体"),
    "HomeAppliances": ("家用电器",),
    "FoodBeverage": ("食品", "白酒", "乳制品", "软饮料", "红黄酒", "啤酒"),
    "Textiles": ("服饰", "纺织"),
    "LightManufacturing": ("家居用品", "文教休闲", "造纸"),
    "Pharma": ("医疗保健", "化学制药", "生物制药", "中成药", "医药商业"),
    "Utilities": ("环境保护", "供气供热", "新型电力", "火力发电", "水力发电", "水务"),
    "Transportation": ("仓储物流", "路桥", "港口", "水运", "空运", "铁路", "公共交通", "机场", "公路"),
    "RealEstate": ("区域地产", "全国地产", "房产服务", "园区开发"),
    "Commerce": ("百货", "商贸代理", "其他商业", "超市连锁", "批发业", "商品城", "电器连锁"),
    "LeisureServices": ("旅游景点", "酒店餐饮", "旅游服务"),
    "Conglomerate": ("综合类",),
    "BuildingMaterials": ("其他建材", "矿物制品", "水泥", "玻璃", "陶瓷"),
    "Construction": ("建筑工程", "装修装饰"),
    "ElectricalEquipment": ("电气设备",),
    "Defense": ("航空", "船舶"),
    "Computers": ("软件服务", "IT设备"),
    "Media": ("互联网", "广告包装", "影视音像", "出版业"),
    "Telecom": ("通信设备", "电信运营"),
    "Banks": ("银行",),
    "NonBankFinancials": ("证券", "多元金融", "保险"),
    "Autos": ("汽车配件", "汽车整车", "汽车服务", "摩托车"),
    "Machinery": (
        "专用机械", "机械基件", "电器仪表", "运输设备", "工程机械", "机床制造",
        "纺织机械", "农用机械", "化工机械", "轻工机械",
    ),
}  # fmt: skip

#: Tushare industry name -> sector name.
TUSHARE_TO_SECTOR: dict[str, str] = {ind: sec for sec, inds in _GROUPS.items() for ind in inds}
#: Sector names in code order (the last one is ``UNKNOWN``).
SECTORS: tuple[str, ...] = tuple(_GROUPS) + (UNKNOWN,)


def map_industries(names: np.ndarray, scheme: str = "sw28") -> tuple[np.ndarray, list[str], list[str]]:
    """Codes (int16) and code names for industry ``names``; also the names that fell to Unknown.

    ``scheme`` "sw28" maps Tushare names to ``SECTORS``; "raw" keeps every distinct name as its own code.
    """
    names = np.asarray([n if isinstance(n, str) and n else UNKNOWN for n in names], dtype=object)
    if scheme == "raw":
        uniq = sorted(set(names.tolist()))
        lookup = {n: i for i, n in enumerate(uniq)}
        return np.array([lookup[n] for n in names], dtype=np.int16), uniq, []
    if scheme != "sw28":
        from zoo.errors import DataError

        raise DataError(f"sector scheme {scheme!r} is unknown; choose 'sw28' or 'raw'")
    sector_of = np.array([TUSHARE_TO_SECTOR.get(n, UNKNOWN) for n in names], dtype=object)
    unmapped = sorted({n for n in names.tolist() if n not in TUSHARE_TO_SECTOR and n != UNKNOWN})
    code = {s: i for i, s in enumerate(SECTORS)}
    return np.array([code[s] for s in sector_of], dtype=np.int16), list(SECTORS), unmapped
