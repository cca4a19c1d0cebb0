import openpyxl
import pandas as pd
from openpyxl.styles import Font

wb = openpyxl.load_workbook("/data/budget.xlsx", data_only=True)
print("Sheets:", wb.sheetnames)
ws = wb.active
rows = list(ws.iter_rows(min_row=2, values_only=True))
df = pd.DataFrame(rows, columns=[c.value for c in ws[1]])
print(df.head())

out = openpyxl.Workbook()
sheet = out.active
sheet.title = "Totals"
sheet.append(["Category", "Total"])
sheet["A1"].font = Font(bold=True)
for category, total in df.groupby("Category")["Amount"].sum().items():
    sheet.append([category, float(total)])
out.save("/output/budget_totals.xlsx")
