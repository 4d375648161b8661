"""The synthetic city's vocabulary: Yancheng divisions, GB/T 4754 industries, authorities, names and
phrases."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Division:
    """A GB/T 2260 division of Yancheng (domain-rules §1.1), with the short forms used in document numbers."""

    code: str
    name: str
    abbr: str  # first character(s) of a decision number, e.g. 亭 in 亭市监罚〔2024〕12号
    weight: float  # share of the city's market entities registered there


DIVISIONS: tuple[Division, ...] = (
    Division("320900", "盐城市", "盐", 0.04),
    Division("320902", "盐城市亭湖区", "亭", 0.14),
    Division("320903", "盐城市盐都区", "盐都", 0.13),
    Division("320904", "盐城市大丰区", "丰", 0.10),
    Division("320921", "盐城市响水县", "响", 0.06),
    Division("320922", "盐城市滨海县", "滨", 0.09),
    Division("320923", "盐城市阜宁县", "阜", 0.09),
    Division("320924", "盐城市射阳县", "射", 0.09),
    Division("320925", "盐城市建湖县", "建", 0.08),
    Division("320971", "盐城经济技术开发区", "盐开", 0.05),
    Division("320981", "东台市", "东", 0.13),
)


@dataclass(frozen=True, slots=True)
class Industry:
    """A GB/T 4754-2017 section+division, its share per entity type and its own risk (logit shift)."""

    code: str
    name: str
    word: str  # the business word in a registered name (…餐饮有限公司)
    domain: str  # main supervision domain of the catalog's DOMAINS
    risk: float
    # relative weights for enterprise (91), individual business (92), cooperative (93), institution and
    # social organisation
    weights: tuple[float, float, float, float, float]
    licence: str  # the licence such businesses hold


INDUSTRIES: tuple[Industry, ...] = (
    Industry("A01", "农业", "农业", "product_quality", -0.5, (2, 3, 55, 0, 0), "农药经营许可证"),
    Industry("A03", "畜牧业", "养殖", "food", -0.1, (1, 3, 25, 0, 0), "动物防疫条件合格证"),
    Industry("A04", "渔业", "水产", "food", -0.2, (1, 2, 15, 0, 0), "水域滩涂养殖证"),
    Industry("C13", "农副食品加工业", "食品加工", "food", 0.7, (4, 2, 3, 0, 0), "食品生产许可证"),
    Industry("C14", "食品制造业", "食品", "food", 0.8, (3, 2, 1, 0, 0), "食品生产许可证"),
    Industry("C18", "纺织服装、服饰业", "服饰", "product_quality", 0.1, (5, 2, 0, 0, 0), "排污许可证"),
    Industry(
        "C26", "化学原料和化学制品制造业", "化工", "product_quality", 0.9, (3, 0, 0, 0, 0), "安全生产许可证"
    ),
    Industry("C27", "医药制造业", "药业", "drug", 0.8, (1, 0, 0, 0, 0), "药品生产许可证"),
    Industry(
        "C34", "通用设备制造业", "机械", "special_equipment", 0.4, (6, 1, 0, 0, 0), "特种设备生产许可证"
    ),
    Industry(
        "C38", "电气机械和器材制造业", "电气", "product_quality", 0.2, (5, 1, 0, 0, 0), "工业产品生产许可证"
    ),
    Industry(
        "E47", "房屋建筑业", "建设工程", "special_equipment", 0.5, (7, 1, 0, 0, 0), "建筑业企业资质证书"
    ),
    Industry(
        "E48", "土木工程建筑业", "路桥工程", "special_equipment", 0.4, (3, 0, 0, 0, 0), "建筑业企业资质证书"
    ),
    Industry("F51", "批发业", "商贸", "product_quality", 0.0, (14, 8, 1, 0, 0), "食品经营许可证"),
    Industry("F52", "零售业", "百货", "pricing", 0.2, (8, 30, 0, 0, 0), "食品经营许可证"),
    Industry("G54", "道路运输业", "物流", "special_equipment", 0.3, (4, 5, 0, 0, 0), "道路运输经营许可证"),
    Industry("H61", "住宿业", "宾馆", "food", 0.3, (1, 3, 0, 0, 0), "特种行业许可证"),
    Industry("H62", "餐饮业", "餐饮", "food", 0.7, (4, 18, 0, 0, 0), "食品经营许可证"),
    Industry(
        "I64", "互联网和相关服务", "网络科技", "advertising", 0.0, (4, 1, 0, 0, 0), "增值电信业务经营许可证"
    ),
    Industry(
        "I65", "软件和信息技术服务业", "信息技术", "other", -0.6, (6, 1, 0, 0, 0), "增值电信业务经营许可证"
    ),
    Industry("K70", "房地产业", "置业", "advertising", 0.3, (4, 0, 0, 0, 0), "房地产开发企业资质证书"),
    Industry(
        "L72", "商务服务业", "企业管理咨询", "registration", 0.1, (10, 2, 0, 0, 2), "人力资源服务许可证"
    ),
    Industry("M74", "专业技术服务业", "检测技术", "other", -0.4, (4, 1, 0, 1, 1), "检验检测机构资质认定证书"),
    Industry("O80", "居民服务业", "美容美发", "pricing", 0.3, (2, 12, 0, 0, 0), "公共场所卫生许可证"),
    Industry(
        "O81",
        "机动车、电子产品和日用产品修理业",
        "汽车维修",
        "pricing",
        0.2,
        (2, 7, 0, 0, 0),
        "机动车维修经营备案",
    ),
    Industry("P83", "教育", "教育培训", "advertising", -0.2, (1, 0, 0, 4, 5), "民办学校办学许可证"),
    Industry("Q84", "卫生", "医疗", "drug", 0.2, (1, 1, 0, 5, 1), "医疗机构执业许可证"),
    Industry("R90", "娱乐业", "文化娱乐", "pricing", 0.4, (1, 2, 0, 0, 1), "娱乐经营许可证"),
)


@dataclass(frozen=True, slots=True)
class EntityKind:
    """A USCC authority+type prefix, the catalog's entity type, its share, risk and capital distribution."""

    prefix: str
    entity_type: str
    share: float
    risk: float
    capital_median: float  # yuan; lognormal around it
    capital_sigma: float
    capital_missing: float  # share of rows without a registered capital
    mean_life_years: float  # exponential lifetime (deregistration hazard)
    suffix: tuple[str, ...]  # name endings


KINDS: tuple[EntityKind, ...] = (
    EntityKind(
        "91",
        "enterprise",
        0.355,
        0.0,
        1_000_000,
        1.4,
        0.0,
        11.0,
        ("有限公司", "有限责任公司", "股份有限公司"),
    ),
    EntityKind(
        "92", "individual_business", 0.60, 0.25, 50_000, 1.0, 0.3, 6.0, ("店", "经营部", "商行", "工作室")
    ),
    EntityKind("93", "cooperative", 0.035, -0.2, 500_000, 1.0, 0.0, 9.0, ("专业合作社",)),
    EntityKind("12", "public_institution", 0.005, -1.2, 2_000_000, 0.8, 0.5, 60.0, ("中心", "院")),
    EntityKind("52", "social_organisation", 0.005, -0.6, 30_000, 0.7, 0.0, 25.0, ("服务中心", "学校")),
)

# Common surnames of northern Jiangsu, roughly by frequency, and given-name characters.
SURNAMES = "王陈张李刘周徐朱吴孙杨黄胡高沈蔡顾姜唐戴陆季仇薛卞成夏韩孟葛"
GIVEN = "建国华明军伟平红英秀兰芳丽强海峰磊静敏燕勇杰涛斌超宇浩俊鹏飞云霞梅玉春志文晨洁婷辉"
BRAND = "鑫达恒泰华盛宏源金鼎顺发裕隆永兴嘉禾瑞丰海润新宇中天东方盐海大洋黄海丹顶鹤湿地麋鹿"
ROADS = (
    "人民路",
    "解放路",
    "开放大道",
    "世纪大道",
    "建军路",
    "青年路",
    "文港路",
    "迎宾大道",
    "黄海路",
    "范公路",
)

# Resident ID area codes: Yancheng counties (old codes 320911/320982 for people registered before the
# 2003/2015 re-divisions) and some from elsewhere, with weights.
ID_AREAS: tuple[tuple[str, float], ...] = (
    ("320902", 0.12),
    ("320903", 0.11),
    ("320904", 0.08),
    ("320911", 0.04),
    ("320982", 0.03),
    ("320921", 0.06),
    ("320922", 0.08),
    ("320923", 0.08),
    ("320924", 0.08),
    ("320925", 0.07),
    ("320981", 0.11),
    ("320102", 0.02),
    ("321002", 0.02),
    ("321202", 0.02),
    ("320681", 0.02),
    ("341302", 0.03),
    ("410102", 0.02),
    ("370102", 0.01),
    ("330102", 0.01),
    ("342201", 0.01),
)

# Per supervision domain: violation types with the legal basis cited, and the check items of an inspection.
VIOLATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "food": (
        ("经营超过保质期的食品", "《中华人民共和国食品安全法》第一百二十四条"),
        ("未按规定查验供货者许可证和产品合格证明文件", "《中华人民共和国食品安全法》第一百二十六条"),
        ("未取得食品经营许可从事食品经营活动", "《中华人民共和国食品安全法》第一百二十二条"),
    ),
    "drug": (
        ("未按照规定储存药品", "《中华人民共和国药品管理法》第一百二十六条"),
        ("销售劣药", "《中华人民共和国药品管理法》第一百一十七条"),
    ),
    "special_equipment": (
        ("使用未经定期检验的特种设备", "《中华人民共和国特种设备安全法》第八十四条"),
        ("特种设备作业人员未取得相应资格", "《中华人民共和国特种设备安全法》第八十六条"),
    ),
    "product_quality": (
        ("销售不合格产品", "《中华人民共和国产品质量法》第五十条"),
        ("伪造产品产地", "《中华人民共和国产品质量法》第五十三条"),
    ),
    "pricing": (
        ("不明码标价", "《中华人民共和国价格法》第四十二条"),
        ("价格欺诈", "《中华人民共和国价格法》第四十条"),
    ),
    "advertising": (
        ("发布虚假广告", "《中华人民共和国广告法》第五十五条"),
        ("广告使用绝对化用语", "《中华人民共和国广告法》第五十七条"),
    ),
    "registration": (
        ("未按规定公示年度报告", "《企业信息公示暂行条例》第十七条"),
        ("提交虚假材料取得登记", "《中华人民共和国市场主体登记管理条例》第四十四条"),
    ),
    "other": (
        ("未按规定办理变更登记", "《中华人民共和国市场主体登记管理条例》第四十六条"),
        ("擅自改变经营场所", "《中华人民共和国市场主体登记管理条例》第四十六条"),
    ),
}

CHECK_ITEMS: dict[str, str] = {
    "food": "食品经营许可情况;进货查验记录;食品贮存条件",
    "drug": "药品购进渠道;药品储存条件;处方药销售管理",
    "special_equipment": "特种设备使用登记;定期检验情况;作业人员资格",
    "product_quality": "产品质量抽检;标识标注;生产许可情况",
    "pricing": "明码标价;价格行为;收费公示",
    "advertising": "广告内容合法性;广告审查情况",
    "registration": "登记事项;年度报告公示;住所真实性",
    "other": "登记事项;年度报告公示;住所真实性",
}

# Departments that run double-random tasks, by domain: (department name suffix, task code).
DEPARTMENTS: dict[str, tuple[str, str]] = {
    "food": ("市场监督管理局（食品安全）", "SP"),
    "drug": ("市场监督管理局（药品）", "YP"),
    "special_equipment": ("市场监督管理局（特种设备）", "TS"),
    "product_quality": ("市场监督管理局（产品质量）", "ZL"),
    "pricing": ("市场监督管理局（价格监督）", "JG"),
    "advertising": ("市场监督管理局（广告监管）", "GG"),
    "registration": ("市场监督管理局（信用监管）", "XY"),
    "other": ("市场监督管理局（信用监管）", "XY"),
}

LIST_BASIS: dict[str, str] = {
    "severe_dishonesty": "《市场监督管理严重违法失信名单管理办法》第二条",
    "abnormal_operations": "《企业信息公示暂行条例》第十七条",
    "court_dishonest_debtor": "《最高人民法院关于公布失信被执行人名单信息的若干规定》第一条",
    "red_list": "《盐城市守信激励对象认定管理办法》",
}
LIST_REASONS: dict[str, tuple[str, ...]] = {
    "severe_dishonesty": ("受到较重行政处罚且情节严重", "危害人民群众生命健康的违法行为"),
    "abnormal_operations": (
        "未按规定公示年度报告",
        "通过登记的住所或者经营场所无法联系",
        "公示信息隐瞒真实情况",
    ),
    "court_dishonest_debtor": ("有履行能力而拒不履行生效法律文书确定义务",),
    "red_list": ("连续三年公共信用综合评价为A级", "获评守合同重信用企业"),
}

SELF_REPORT_CONTENT: dict[str, str] = {
    "qualification": "取得高新技术企业认定",
    "honour": "获评市级守合同重信用企业",
    "social_responsibility": "参与慈善捐赠及志愿服务",
    "tax": "按期足额缴纳税款",
    "social_insurance": "足额缴纳职工社会保险",
    "contract": "合同履约情况良好",
    "other": "其他信用信息",
}

COMMITMENT_MATTERS = (
    "依法诚信经营，不制售假冒伪劣商品",
    "按期公示年度报告",
    "信息真实准确，不存在虚假申报",
    "落实食品安全主体责任",
    "依法履行特种设备安全管理责任",
)
