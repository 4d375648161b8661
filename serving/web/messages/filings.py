"""Messages of the filings pages (the department's queue, the entity's repair and self-report forms):
key → (zh, en)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "nav.queues": ("待办事项", "Queues"),
    # the department's queue
    "queue.title": ("待办事项", "Queue of filings"),
    "queue.hint": (
        "本部门待处理的异议、信用修复申请、自愿注册信息和陈述申辩；时限按工作日计算（法定节假日和调休已计入）。",
        "Objections, repair applications, self-reports and statements waiting for this department; clocks "
        "run in working days (public holidays and make-up working days counted).",
    ),
    "queue.department": ("部门", "Department"),
    "queue.on": ("时限计算日", "Clocks read on"),
    "queue.empty": ("没有待办事项。", "Nothing is waiting."),
    "queue.done": ("已处理：{id}", "Done: {id}"),
    "queue.kind.objection": ("异议", "Objection"),
    "queue.kind.repair": ("信用修复", "Repair"),
    "queue.kind.self_report": ("自愿注册", "Self-report"),
    "queue.kind.statement": ("陈述申辩", "Statement"),
    "queue.col.kind": ("类别", "Kind"),
    "queue.col.item": ("编号 / 主体", "Item / entity"),
    "queue.col.about": ("事项", "About"),
    "queue.col.clock": ("时限", "Clock"),
    "queue.col.decide": ("处理", "Decide"),
    "queue.clock.mark": ("标注“异议处理中”", "mark 异议处理中"),
    "queue.clock.decide": ("作出决定", "decide"),
    "queue.clock.accept": ("受理", "accept (受理)"),
    "queue.clock.verify": ("核实", "verify"),
    "queue.clock.statement": ("申辩期届满", "statement period ends"),
    "queue.left": ("剩余 {n} 个工作日", "{n} working days left"),
    "queue.due_today": ("今日到期", "due today"),
    "queue.late": ("已超期 {n} 个工作日", "{n} working days late"),
    "queue.filed_on": ("提交日期", "Filed on"),
    "queue.documents": ("材料", "Documents"),
    "queue.status": ("状态", "Status"),
    "queue.reasons": ("理由", "Reasons"),
    "queue.reason": ("驳回理由", "Reason for rejecting"),
    "queue.resolution": ("处理方式", "Resolution"),
    "queue.resolution.corrected": ("更正", "corrected"),
    "queue.resolution.revoked": ("撤销", "revoked"),
    "queue.act.mark": ("标注异议处理中", "Mark 异议处理中"),
    "queue.act.uphold": ("异议成立", "Uphold"),
    "queue.act.reject_objection": ("异议不成立", "Reject the objection"),
    "queue.act.accept": ("受理", "Accept"),
    "queue.act.approve": ("准予修复", "Approve"),
    "queue.act.reject": ("驳回", "Reject"),
    "queue.act.verify": ("核实通过", "Verify"),
    "queue.statement_hint": (
        "在名单案件中作出列入或撤回决定（lists list / withdraw）。",
        "Decide on the list case: list or withdraw (lists list / withdraw).",
    ),
    "queue.error": ("未能处理", "Not done"),
    "queue.inspector_hint": (
        "只有本部门监管人员可以作出决定。",
        "Only a supervisor of the department decides.",
    ),
    # the entity's forms
    "filing.back": ("返回信用服务专区", "Back to the credit service zone"),
    "filing.error": ("请更正以下问题", "Please correct the following"),
    "filing.repair.title": ("申请信用修复", "Apply for credit repair"),
    "filing.repair.hint": (
        "选择一条本单位的行政处罚或名单记录，填写信用承诺和履行义务的证明，"
        "并按修复规定上传所需材料（PDF、JPEG 或 PNG，每份不超过 {limit}）。"
        "未到最早可修复日期的申请不予受理。",
        "Pick one of your penalties or list entries, give your credit commitment and proof that the "
        "obligations are fulfilled, and attach the documents the repair rules require (PDF, JPEG or PNG, at "
        "most {limit} each). An application before the earliest eligible date is not accepted.",
    ),
    "filing.repair.record": ("记录", "Record"),
    "filing.repair.choose": ("请选择", "Choose"),
    "filing.repair.no_records": ("本单位没有可申请修复的记录。", "You have no record a repair applies to."),
    "filing.repair.commitment": ("信用承诺", "Credit commitment"),
    "filing.repair.obligations": ("履行义务的证明（如罚款缴款书号）", "Proof the obligations are fulfilled"),
    "filing.repair.documents": ("修复材料", "Repair documents"),
    "filing.repair.document.credit_training": ("信用修复培训证明", "Credit repair training certificate"),
    "filing.repair.document.credit_report": ("信用报告", "Credit report"),
    "filing.repair.document.public_service": ("公益服务证明", "Proof of public-interest service"),
    "filing.repair.needs": ("需上传：", "needs: "),
    "filing.repair.document_hint": (
        "修复规定要求的材料必须上传；其他材料可选。",
        "The documents the repair rules require must be attached; the others are optional.",
    ),
    "filing.repair.submit": ("提交申请", "Apply"),
    "filing.repair.done": (
        "申请已提交：{id}，受理期限 {due}。",
        "Application made: {id}; to be accepted by {due}.",
    ),
    "filing.repair.refused_early": (
        "不予受理：最早可于 {date} 申请修复。",
        "Not accepted (不予受理): apply on or after {date}.",
    ),
    "filing.self.title": ("自愿注册信用信息", "Report information voluntarily (自愿注册)"),
    "filing.self.hint": (
        "荣誉、资质认证、社会责任等信息经主管部门核实后才会记入信用记录；部门驳回时会说明理由。",
        "Honours, qualifications, social contributions …: a department verifies them before they enter your "
        "credit record; a rejection says why.",
    ),
    "filing.self.topic": ("类别", "Topic"),
    "filing.self.topic.qualification": ("资质认证", "qualification / certification"),
    "filing.self.topic.honour": ("荣誉表彰", "honour"),
    "filing.self.topic.social_responsibility": ("社会责任（公益、捐赠）", "social contribution"),
    "filing.self.topic.tax": ("纳税信息", "tax"),
    "filing.self.topic.social_insurance": ("社保缴纳", "social insurance"),
    "filing.self.topic.contract": ("合同履约", "contract performance"),
    "filing.self.topic.other": ("其他", "other"),
    "filing.self.content": ("内容（发证机关、编号、日期）", "Content (issuer, number, date)"),
    "filing.self.documents": ("证明材料（可选，PDF、JPEG 或 PNG）", "Proof (optional: PDF, JPEG or PNG)"),
    "filing.self.submit": ("提交", "Submit"),
    "filing.self.done": (
        "已提交：{id}，由{department}在 {due} 前核实。",
        "Submitted: {id}; {department} decides by {due}.",
    ),
    "filing.self.mine": ("我的自愿注册信息", "My self-reports"),
    "filing.self.none": ("还没有提交过。", "None submitted yet."),
    "filing.status.submitted": ("待核实", "waiting"),
    "filing.status.verified": ("已核实", "verified"),
    "filing.status.rejected": ("已驳回", "rejected"),
    "filing.limit": ("不超过 {limit} 字", "at most {limit} characters"),
}
