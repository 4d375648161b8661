"""Messages shared by every page: key → (zh, en)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "app.title": ("信用风险监管", "Credit risk supervision"),
    "app.tagline": (
        "信用监管 · 风险分级 · 双随机、一公开",
        "Credit supervision · risk tiers · double-random inspections",
    ),
    "nav.entities": ("主体查询", "Entities"),
    "nav.tasks": ("抽查任务", "Inspection tasks"),
    "nav.models": ("模型管理", "Models"),
    "nav.zone": ("信用服务专区", "Credit service zone"),
    "nav.logout": ("退出", "Sign out"),
    "nav.signed_in_as": ("当前用户", "Signed in as"),
    "nav.language": ("English", "中文"),
    "role.inspector": ("检查人员", "Inspector"),
    "role.analyst": ("数据分析员", "Analyst"),
    "role.supervisor": ("监管人员", "Supervisor"),
    "role.admin": ("系统管理员", "Administrator"),
    "role.system": ("外部系统", "External system"),
    "login.title": ("登录", "Sign in"),
    "login.token": ("访问令牌", "Access token"),
    "login.hint": (
        "请输入管理员发放的访问令牌（cw_ 开头）。",
        "Enter the access token an administrator issued to you (it starts with cw_).",
    ),
    "login.submit": ("登录", "Sign in"),
    "login.failed": ("令牌无效、已吊销或已过期。", "The token is invalid, revoked or expired."),
    "login.expired": ("会话已失效，请重新登录。", "Your session has ended: please sign in again."),
    "home.title": ("欢迎", "Welcome"),
    "home.no_pages": ("您的角色没有可用的页面；请使用接口。", "Your role has no pages: use the API."),
    "error.title": ("出错了", "Something went wrong"),
    "error.back": ("返回", "Back"),
    "error.status": ("状态码", "Status"),
}
