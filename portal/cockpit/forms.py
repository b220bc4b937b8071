from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Email, InputRequired, Length, Optional, Regexp

from portal.organisations.models import ROLES

TIMEZONES = ["Europe/Amsterdam", "Europe/Brussels", "Europe/Berlin", "Europe/London", "Europe/Paris", "UTC"]


class InviteForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    email = EmailField("Email", validators=[InputRequired(), Email(), Length(max=254)])
    role = SelectField("Role", choices=[SelectChoice(r, r.title()) for r in ROLES], default="controller")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[SelectChoice(r, r.title()) for r in ROLES])


class SettingsForm(FlaskForm):
    name = StringField("Organisation name", validators=[InputRequired(), Length(max=200)])
    timezone = SelectField("Timezone", choices=[SelectChoice(t) for t in TIMEZONES])
    locale = SelectField(
        "Language and number format", choices=[SelectChoice("nl", "Nederlands"), SelectChoice("en", "English")]
    )
    home_currency = StringField("Home currency", validators=[InputRequired(), Regexp(r"^[A-Z]{3}$")])
    sender_name = StringField("Sender name for mail", validators=[InputRequired(), Length(max=200)])
    sender_email = EmailField("Sender address", validators=[InputRequired(), Email()])
    iban = StringField("IBAN", validators=[Optional(), Length(max=42)])
    bic = StringField("BIC", validators=[Optional(), Length(max=11)])
    reference_scheme = SelectField(
        "Payment references",
        choices=[
            SelectChoice("rf", "RF creditor reference (ISO 11649)"),
            SelectChoice("nl", "Betalingskenmerk (16 digits)"),
        ],
    )
