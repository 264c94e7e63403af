# The answerability step (issue 11, item 6): P(yes) on the answer job, and thresholds measured
# per model by manage.py govai_calibrate.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('govai_plugin', '0011_text_search_unaccent'),
    ]

    operations = [
        migrations.AddField(
            model_name='answerjob',
            name='p_answerable',
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='answerjob',
            name='answerability',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.CreateModel(
            name='Calibration',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=64)),
                ('model', models.CharField(max_length=300)),
                ('value', models.FloatField()),
                ('details', models.JSONField(blank=True, default=dict)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('kind', 'model'), name='govai_calibration_kind_model')],
            },
        ),
    ]
