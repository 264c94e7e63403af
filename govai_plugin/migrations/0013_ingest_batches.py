# Large queued ingestions embedded batch by batch over Celery workers (issue 11, item 2).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    # Both: 0011 and 0012 were written side by side from 0010; this one joins them again.
    dependencies = [
        ('govai_plugin', '0011_text_search_unaccent'),
        ('govai_plugin', '0012_answerability'),
    ]

    operations = [
        migrations.CreateModel(
            name='IngestBatch',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.PositiveIntegerField()),
                ('texts', models.JSONField(default=list)),
                ('vectors', models.BinaryField(default=b'')),
                ('embedding_model', models.CharField(blank=True, max_length=300)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('done', 'Done')], default='pending', max_length=16)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='batches', to='govai_plugin.ingestionjob')),
            ],
            options={
                'ordering': ['job_id', 'number'],
                'indexes': [models.Index(fields=['job', 'status'], name='govai_ingest_batch_status_idx')],
                'constraints': [models.UniqueConstraint(fields=('job', 'number'), name='govai_ingest_batch_unique')],
            },
        ),
    ]
