"""The community office (社区办公室): response times, dispositions and the monthly bulletin (SPEC §7, docs/office.md).

`report` computes the figures from the alerts table; `tables` lays them out as rows; `csvfile`, `xlsx` and
`bulletin` write them as CSV, a workbook and the monthly bulletin (PDF, in Chinese, with charts).
"""
