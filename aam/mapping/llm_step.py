def llm_refine(result, **kwargs):
    return result
