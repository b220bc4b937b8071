from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import Email, EqualTo, InputRequired, Length

from portal.organisations.service import MIN_PASSWORD


class LoginForm(FlaskForm):
    # No format check on sign-in: the address only has to match an account (the demo's is demo@duly.test).
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired()])
    next = HiddenField()


class SignupForm(FlaskForm):
    organisation_name = StringField("Organisation", validators=[InputRequired(), Length(max=200)])
    name = StringField("Your name", validators=[InputRequired(), Length(max=200)])
    email = EmailField("Email", validators=[InputRequired(), Email(), Length(max=254)])
    password = PasswordField(
        "Password",
        validators=[
            InputRequired(),
            Length(min=MIN_PASSWORD, max=200, message=f"Use at least {MIN_PASSWORD} characters."),
        ],
    )


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        "New password",
        validators=[
            InputRequired(),
            Length(min=MIN_PASSWORD, max=200, message=f"Use at least {MIN_PASSWORD} characters."),
        ],
    )
    confirm = PasswordField(
        "Repeat the password", validators=[InputRequired(), EqualTo("password", "The passwords differ")]
    )


class AcceptInvitationForm(NewPasswordForm):
    name = StringField("Your name", validators=[InputRequired(), Length(max=200)])
