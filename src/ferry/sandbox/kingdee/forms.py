"""The business objects (forms) the sandbox knows: their numbering, entries and declared fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FormSpec:
    """What the sandbox knows about one business object (form)."""

    form_id: str
    name: str
    number_prefix: str
    number_width: int
    #: entry (单据体) keys, e.g. ``FPAYAPPLYENTRY``
    entries: tuple[str, ...] = ()
    #: declared header field keys (queries accept them even when no bill carries a value)
    header_fields: tuple[str, ...] = ()
    #: declared entry field keys per entry
    entry_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: entry fields a Save must find filled: (entry, field key, label for the message)
    required_entry_fields: tuple[tuple[str, str, str], ...] = ()
    #: label of the main entry in messages (单据体“明细”)
    entry_label: str = "明细"


CN_PAYAPPLY = FormSpec(
    form_id="CN_PAYAPPLY",
    name="付款申请单",
    number_prefix="FKSQ",
    number_width=6,
    entries=("FPAYAPPLYENTRY",),
    header_fields=(
        "FBILLTYPEID",
        "FDATE",
        "FCONTACTUNITTYPE",
        "FCONTACTUNIT",
        "FRECTUNITTYPE",
        "FRECTUNIT",
        "FCURRENCYID",
        "FPAYORGID",
        "FSETTLEORGID",
        "FPURCHASEORGID",
        "FPURCHASEDEPTID",
        "FPURCHASERGROUPID",
        "FPURCHASERID",
        "FSALEORGID",
        "FSALEDEPTID",
        "FSALEGROUPID",
        "FSALEERID",
        "FDEPARTMENT",
        "FScanPoint",
        "FCANCELSTATUS",
        "FSOURCESYSTEM",
        "FIsCredit",
        "FBankActID",
        "FAPPLYORGID",
        "FSETTLECUR",
        "FPAYAMOUNTFOR_H",
        "FAPPLYAMOUNTFOR_H",
        "FCLOSESTATUS",
        "FCREATORID",
        "FREMARK",
    ),
    entry_fields={
        "FPAYAPPLYENTRY": (
            "FEntryID",
            "FCOSTID",
            "FSETTLETYPEID",
            "FPAYPURPOSEID",
            "FARPURPOSEID",
            "FENDDATE",
            "FEXPECTPAYDATE",
            "FAPPLYAMOUNTFOR",
            "FPAYAMOUNTFOR",
            "FTAXAMOUNT",
            "FApplyPclAmount",
            "FApplyInstAmount",
            "FEACHBANKACCOUNT",
            "FEACHCCOUNTNAME",
            "FEACHBANKNAME",
            "FSwiftCode",
            "FDescription",
            "FPRICE",
            "FQTY",
            "FPRICEUNITID",
            "FSRCBILLNO",
            "FSOURCETYPE",
            "FMATERIALID",
            "FORDERENTRYID",
            "FUnpaidAmount",
            "FRELATEPAYAMOUNT",
        )
    },
)

AP_PAYBILL = FormSpec(
    form_id="AP_PAYBILL",
    name="付款单",
    number_prefix="FKD",
    number_width=8,
    entries=("FPAYBILLENTRY", "FPAYBILLSRCENTRY"),
    header_fields=(
        "FBillTypeID",
        "FDATE",
        "FCONTACTUNITTYPE",
        "FCONTACTUNIT",
        "FRECTUNITTYPE",
        "FRECTUNIT",
        "FDepartment",
        "FISINIT",
        "FCURRENCYID",
        "FEXCHANGERATE",
        "FSETTLERATE",
        "FSETTLEORGID",
        "FPURCHASEORGID",
        "FPURCHASEDEPTID",
        "FPURCHASERGROUPID",
        "FPURCHASERID",
        "FBUSINESSTYPE",
        "FScanPoint",
        "FCancelStatus",
        "FPAYORGID",
        "FISSAMEORG",
        "FIsCredit",
        "FSETTLECUR",
        "FIsWriteOff",
        "FMatchMethodID",
        "FREALPAY",
        "FREMARK",
        "FBookingDate",
        "FTHIRDBILLNO",
        "FWBSETTLENO",
        "FISCARRYRATE",
        "FSETTLEMAINBOOKID",
        "FREALPAYAMOUNTFOR",
    ),
    entry_fields={
        "FPAYBILLENTRY": (
            "FEntryID",
            "FSETTLETYPEID",
            "FPURPOSEID",
            "FPAYITEMTYPE",
            "FPAYITEM",
            "FPAYTOTALAMOUNTFOR",
            "FPAYAMOUNTFOR_E",
            "FSETTLEDISTAMOUNTFOR",
            "FSETTLEPAYAMOUNTFOR",
            "FOVERSHORTAGEFOR",
            "FHANDLINGCHARGEFOR",
            "FREALPAYAMOUNTFOR_D",
            "FACCOUNTID",
            "FINNERACCOUNTID",
            "FOPPOSITEBANKACCOUNT",
            "FOPPOSITECCOUNTNAME",
            "FOPPOSITEBANKNAME",
            "FCashAccount",
            "FSETTLENO",
            "FCOMMENT",
            "FPURCHASEORDERID",
            "FCOSTID",
            "FEXPENSEDEPTID_E",
            "FPAYAMOUNT_E",
            "FPOSTDATE",
            "FMATERIALID",
            "FPRICEUNITID",
            "FPRICE",
            "FPURCHASEORDERNO",
            "FORDERENTRYID",
            "FSwiftCode",
        ),
        "FPAYBILLSRCENTRY": (
            "FEntryID",
            "FTAXAMOUNT",
            "FPAYPURPOSEID",
            "FSRCCOSTID",
            "FEXPENSEDEPTID",
            "FSRCPRICEUNITID",
            "FSRCPRICE",
            "FSRCQTY",
            "FTAXAMOUNTLOC",
            "FPLANPAYAMOUNTLOC",
            "FREALPAYAMOUNTLOC",
            "FSRCREMARK",
            "FSOURCETYPE",
            "FSRCBILLID",
            "FSRCBILLNO",
            "FSRCROWID",
            "FPLANPAYAMOUNT",
            "FREALPAYAMOUNT",
        ),
    },
    required_entry_fields=(
        ("FPAYBILLENTRY", "FSETTLETYPEID", "结算方式"),
        ("FPAYBILLENTRY", "FPURPOSEID", "付款用途"),
    ),
    entry_label="明细",
)

#: forms the generic store accepts out of the box (more can be registered through the admin API)
GENERIC_FORMS = (
    "BD_Supplier",
    "BD_Customer",
    "BD_MATERIAL",
    "BD_Empinfo",
    "BD_Department",
    "BD_BANK",
    "AP_Payable",
    "AR_receivable",
    "AR_RECEIVEBILL",
    "PUR_PurchaseOrder",
    "SAL_SaleOrder",
    "STK_InStock",
    "STK_MISCELLANEOUS",
    "CN_PAYAPPLYBILL",
    "ER_ExpReimbursement",
    "GL_VOUCHER",
)

#: header fields every bill has, whatever its form (values live on the Bill, not in the model)
SYSTEM_FIELDS = ("FID", "FBillNo", "FDocumentStatus", "FCreateDate", "FModifyDate", "FApproveDate", "FFormId")
