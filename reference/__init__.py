"""The numpy specification the implementations are measured against."""
