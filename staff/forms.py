"""Forms. Every POST form is a FlaskForm, so Flask-WTF checks its CSRF token.

Labels are written in the templates; validators only carry limits.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from staff.workflow import MAX_NOTE, MAX_REPLY


class LoginForm(FlaskForm):
    username = StringField(validators=[DataRequired(), Length(max=64)])
    password = PasswordField(validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class PostForm(FlaskForm):
    """A button with nothing but the CSRF token (claim, logout)."""


class StatusForm(FlaskForm):
    status = SelectField(choices=[], validate_choice=False, validators=[DataRequired()])
    next_attempt_at = StringField(validators=[Optional(), Length(max=32)])


class NoteForm(FlaskForm):
    body = TextAreaField(validators=[DataRequired(), Length(max=MAX_NOTE)])


class ReplyForm(FlaskForm):
    message = TextAreaField(validators=[DataRequired(), Length(max=MAX_REPLY)])


class OutcomeForm(FlaskForm):
    outcome_window = SelectField(choices=[], validate_choice=False, validators=[Optional()])


class ExportForm(FlaskForm):
    include_phone = BooleanField()
    confirm_phone = BooleanField()
    created_from = DateField(validators=[Optional()])
    created_to = DateField(validators=[Optional()])
    scope = SelectField(choices=[("all", "all"), ("open", "open")], default="all")
